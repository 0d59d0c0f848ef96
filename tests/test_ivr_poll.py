"""I-5: an idle IVR worker polls SIP slowly, a worker with anything under way polls fast (ivr.worker.next_poll)."""

from __future__ import annotations

import pytest

from ivr import worker
from ivr.worker import BUSY_TAIL, IDLE_POLL, POLL, next_poll


def test_an_idle_worker_polls_slowly():
    """I-5: no call, no restart, no SIP event for a while: the next poll is an idle poll away."""
    assert next_poll(100.0, busy_until=50.0, events=0, active=False, idle_poll=0.05) == (0.05, 50.0)


def test_a_call_under_way_polls_fast_and_for_a_tail_after():
    """I-5: a call (or a restart, or a drain) keeps the 10 ms poll, and it lasts BUSY_TAIL after the call ends."""
    delay, until = next_poll(100.0, busy_until=0.0, events=0, active=True, idle_poll=0.05)
    assert (delay, until) == (POLL, 100.0 + BUSY_TAIL)
    assert next_poll(100.0 + BUSY_TAIL / 2, until, events=0, active=False, idle_poll=0.05)[0] == POLL
    assert next_poll(100.0 + BUSY_TAIL, until, events=0, active=False, idle_poll=0.05)[0] == 0.05


def test_a_sip_event_without_a_call_polls_fast_once():
    """I-5: right after an OPTIONS (Kamailio's ping every 5 s) one fast poll, then idle again: a ping buys no tail."""
    delay, until = next_poll(7.0, busy_until=0.0, events=1, active=False, idle_poll=0.1)
    assert (delay, until) == (POLL, 0.0)
    assert next_poll(7.0 + POLL, until, events=0, active=False, idle_poll=0.1)[0] == 0.1


def test_the_idle_poll_is_bounded():
    """I-5: the idle poll is between the fast poll and a second (what a new call's answer may wait, at most)."""
    assert POLL < IDLE_POLL <= 0.1
    base = ["--database", "sqlite://", "--port", "5071"]
    assert worker.parse_args(base).idle_poll == IDLE_POLL
    assert worker.parse_args([*base, "--idle-poll", "0.1"]).idle_poll == 0.1
    for wrong in ("0.001", "2"):
        with pytest.raises(SystemExit):
            worker.parse_args([*base, "--idle-poll", wrong])
