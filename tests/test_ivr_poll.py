"""I-5: an idle IVR worker polls SIP slowly, a worker with anything under way polls fast (ivr.poll)."""

from __future__ import annotations

import socket

import pytest

from ivr import worker
from ivr.poll import BUSY_TAIL, IDLE_POLL, POLL, SipWake, next_poll, udp_socket_fd


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


def test_the_sip_udp_socket_is_found_among_the_process_descriptors():
    """I-5: the wake-up watches the worker's own SIP UDP socket: found by its bound address, not a TCP one on the port."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
        udp.bind(("127.0.0.1", 0))
        port = udp.getsockname()[1]
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as tcp:
            tcp.bind(("127.0.0.1", port))
            assert udp_socket_fd("127.0.0.1", port) == udp.fileno()
        assert udp_socket_fd("127.0.0.2", port) is None


class _Reactor:
    def __init__(self) -> None:
        self.readers: list = []

    def addReader(self, reader) -> None:
        self.readers.append(reader)

    def removeReader(self, reader) -> None:
        self.readers.remove(reader)


def test_a_datagram_wakes_the_pump_once_until_it_is_armed_again():
    """I-5: a wake takes the socket off the reactor before it runs the pump, so an unread datagram can't spin it."""
    reactor, woken = _Reactor(), []
    wake = SipWake(reactor, 7, lambda: woken.append(list(reactor.readers)))
    wake.arm()
    wake.arm()
    assert reactor.readers == [wake] and wake.fileno() == 7
    wake.doRead()
    assert woken == [[]] and reactor.readers == [] and not wake.armed
    wake.disarm()
    assert reactor.readers == []
