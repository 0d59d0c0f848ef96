"""The IVR worker's SIP edges, seen on the wire by a raw UDP caller (tests/e2e/sip_raw.py).

What a phone or a stray datagram meets (issue #16, issue #17's worker items):
the methods the answers allow (I-1), the telephone-event range of the SDP
answer (I-2), call slots freed when a 200 OK is never acknowledged (I-3), a
CANCEL during the caller's look-up (I-4), an in-dialog REFER (I-1), and
what a worker has done before it says READY (I-8).
"""

from __future__ import annotations

import json
import os
import re
import socket
import time
from pathlib import Path

import pytest
from sip_raw import RawCaller
from test_ivr_sipp import free_port, running_worker

pytestmark = pytest.mark.slow

SERVED = {"INVITE", "ACK", "BYE", "CANCEL", "OPTIONS", "INFO", "UPDATE"}
MAX_CALLS = 4  # ivr.worker.MAX_CALLS


@pytest.fixture
def worker(tmp_path):
    with running_worker(tmp_path, "--drain-timeout", "2") as w:
        yield w


@pytest.fixture
def caller(worker):
    c = RawCaller(worker.port)
    yield c
    c.close()


def events(log: str, name: str) -> list[dict]:
    return [json.loads(line) for line in log.splitlines() if f'"event": "{name}"' in line]


def test_i1_answers_allow_only_the_methods_the_ivr_serves(worker, caller):
    """I-1: the 200 OK and the OPTIONS answer list no PRACK, MESSAGE, REFER, SUBSCRIBE or NOTIFY,
    and support no extension that needs them. I-9: the 200 follows a 100 Trying, with no 18x between."""
    dialog = caller.invite()
    ok = caller.until_final(dialog)
    assert ok.status == 200
    assert [r.status for r in dialog.responses] == [100, 200]
    assert ok.allowed() == SERVED and len(ok.all("Allow")) == 1
    caller.ack(dialog, ok)
    answer = caller.options()
    assert answer.status == 200 and answer.allowed() == SERVED
    assert caller.hang_up(dialog).status == 200
    [ready] = events(worker.log(), "ivr_worker_ready")
    assert set(ready["not_allowed"]) == {"PRACK", "MESSAGE", "REFER", "SUBSCRIBE", "NOTIFY"}
    # no 100rel (it needs PRACK) and no norefersub (REFER) in Supported either
    supported = {tag.strip() for value in ok.all("Supported") for tag in value.split(",")}
    assert supported and not supported & {"100rel", "norefersub"}, supported
    assert set(ready["not_supported"]) == {"100rel", "norefersub"} and "100rel" not in ready["supported"]


def test_i8_a_ready_worker_has_paid_its_first_calls_costs(worker, caller):
    """I-8: before READY the worker ran the caller look-up in one thread per call slot, each with a
    database connection of its own; the first call is then answered like any later one."""
    [ready] = events(worker.log(), "ivr_worker_ready")
    assert ready["warm_lookups"] == MAX_CALLS and ready["warm_ms"] >= 0
    assert "ivr_worker_warm_failed" not in worker.log()
    database = worker.url.removeprefix("sqlite:///")
    fds = Path(f"/proc/{worker.proc.pid}/fd")
    held = [fd for fd in fds.iterdir() if os.path.realpath(fd) == os.path.realpath(database)]
    assert len(held) >= MAX_CALLS, f"{len(held)} connections to {database}"
    dialog = caller.invite()
    ok = caller.until_final(dialog)
    assert ok.status == 200
    caller.ack(dialog, ok)
    assert caller.hang_up(dialog).status == 200
    # the warm-up is no call: the log has this one call only
    assert len(events(worker.log(), "ivr_call_incoming")) == 1


def test_i1_refer_in_a_call_is_refused(worker, caller):
    """I-1: the IVR transfers nobody: an in-dialog REFER gets 405 and the call goes on."""
    dialog = caller.invite()
    ok = caller.until_final(dialog)
    caller.ack(dialog, ok)
    caller.in_dialog(dialog, "REFER", "Refer-To: <sip:999@127.0.0.1:9>", "Referred-By: <sip:9000@127.0.0.1>")
    refused = caller.until_final(dialog, method="REFER")
    assert refused.status == 405 and "REFER" not in refused.allowed()
    assert caller.hang_up(dialog).status == 200
    assert "transferred" not in worker.wait_log('"event": "ivr_call_ended"')


@pytest.mark.parametrize("offered", ["0-15", "0-11", "0-16"])
def test_i2_telephone_event_range_echoes_the_offer(worker, caller, offered):
    """I-2: the SDP answer's telephone-event range is the offer's, not pjmedia's 0-16."""
    dialog = caller.invite(events=offered)
    ok = caller.until_final(dialog)
    caller.ack(dialog, ok)
    fmtp = re.findall(r"a=fmtp:101 (\S+)", ok.body)
    assert fmtp == [offered], ok.body
    assert caller.hang_up(dialog).status == 200


@pytest.mark.parametrize(("contact_too", "within"), [(False, 5.0), (True, 8.0)], ids=["via", "via_and_contact"])
def test_i3_unacknowledged_answers_free_their_call_slots_within_seconds(worker, caller, contact_too, within):
    """I-3: INVITEs whose responses go to a port nobody reads hold the 4 slots a few seconds, not 32 or more.

    Their 200 OK is never acknowledged (the transaction timeout, 3 s), then the
    worker's BYE goes to the Contact: answered here, or (``via_and_contact``)
    lost too, which costs one more transaction timeout.
    """
    nobody = free_port()
    for _ in range(MAX_CALLS):
        caller.invite(via_port=nobody, contact_port=nobody if contact_too else None)
    worker.wait_log('"event": "ivr_call_answering"', count=MAX_CALLS, timeout=10)
    began = time.monotonic()
    busy = caller.invite()
    assert caller.until_final(busy).status == 486  # every slot is taken
    caller.ack(busy, busy.responses[-1])
    answered = None
    for _ in range(60):  # one new call every 0.5 s, 30 s at most
        time.sleep(0.5)
        dialog = caller.invite()
        final = caller.until_final(dialog)
        caller.ack(dialog, final)
        if final.status == 200:
            answered = time.monotonic() - began
            assert caller.hang_up(dialog).status == 200
            break
    assert answered is not None and answered < within, answered
    print(f"I-3: a call slot was free again {answered:.1f} s after all {MAX_CALLS} were taken")
    ended = events(worker.wait_log('"event": "ivr_call_ended"', count=MAX_CALLS + 1), "ivr_call_ended")
    assert len(ended) == MAX_CALLS + 1


def test_i4_cancel_while_the_caller_is_looked_up_ends_the_call_once(worker, caller):
    """I-4: INVITE then CANCEL 0 to 30 ms later, around the look-up's end: 487 (or 200 when the answer won),
    one ``ivr_call_ended`` per call, and error events in words, never an object's repr."""
    delays = [i / 1000 for i in range(0, 31, 3)]
    for delay in delays:
        dialog = caller.invite()
        time.sleep(delay)
        caller.cancel(dialog)
        final = caller.until_final(dialog)
        assert final.status in (487, 200), final.first
        caller.ack(dialog, final)
        if final.status == 200:  # answered before the CANCEL came: hang up instead
            assert caller.hang_up(dialog).status == 200
    log = worker.wait_log('"event": "ivr_call_ended"', count=len(delays), timeout=10)
    ended = [e["call"] for e in events(log, "ivr_call_ended")]
    assert sorted(ended) == list(range(1, len(delays) + 1)), ended
    errors = [json.loads(line) for line in log.splitlines() if '"level": "error"' in line or "_failed" in line]
    assert not [e for e in errors if "Swig" in json.dumps(e) or "proxy of" in json.dumps(e)], errors
    assert not events(log, "ivr_callback_failed")
    print("I-4:", {e["status"] if "status" in e else e["event"]: e.get("error") for e in errors} or "no errors",
          f"{sum(1 for r in log.splitlines() if 'ivr_call_answering' in r)} of {len(delays)} calls answered")


def test_r7_the_sdp_names_the_public_address_while_rtp_stays_bound_where_it_was_told(tmp_path):
    """R-7, H-4: behind port mapping (a container with ``-p``) callers reach RTP at an address the worker
    cannot bind: ``--media-public`` puts that one in the SDP, and RTP stays on ``--media-host``."""
    with running_worker(tmp_path, "--drain-timeout", "2", "--media-host", "127.0.0.1",
                        "--media-public", "127.0.0.2") as w:
        c = RawCaller(w.port)
        try:
            dialog = c.invite()
            ok = c.until_final(dialog)
            c.ack(dialog, ok)
            assert re.findall(r"^c=IN IP4 (\S+)", ok.body, re.M) == ["127.0.0.2"], ok.body
            rtp = int(re.search(r"^m=audio (\d+)", ok.body, re.M)[1])
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:  # taken on 127.0.0.1, by the worker
                with pytest.raises(OSError):
                    probe.bind(("127.0.0.1", rtp))
            assert c.hang_up(dialog).status == 200
        finally:
            c.close()
