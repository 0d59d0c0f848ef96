"""``serve --kamailio``: the server runs Kamailio in front of its IVR workers and keeps it running.

R-7: a call to Kamailio's port reaches a worker, which listens on loopback only.
R-8: Kamailio killed with SIGKILL (its children would keep the port) is back
within 2 s, with no process left from the dead one, and the next call is
answered; /healthz says degraded while it is down; the server's stop stops it.
Real Kamailio, real IVR worker, SIPp as the phone."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from sip_raw import one_request  # noqa: E402
from test_ivr_supervised import (  # noqa: E402
    IvrServer,
    a_call_is_answered,
    finish,
    free_port,
    free_sip_ports,
    need,
    sipp,
    wait_for_file,
)

pytestmark = pytest.mark.slow


def kamailio_pids(folder: Path) -> set[int]:
    """Every process running the kamailio.cfg in ``folder`` (the main process and its children)."""
    out = subprocess.run(["pgrep", "-f", f"kamailio -f {folder}/kamailio.cfg"], capture_output=True, text=True)
    return {int(pid) for pid in out.stdout.split()}


def test_serve_runs_kamailio_in_front_restarts_it_after_sigkill_and_stops_it(tmp_path):
    need("kamailio", "kamailio")
    need("sipp", "sip-tester")
    folder = tmp_path / "kamailio"
    sip_port, rpc_port = free_sip_ports(2), free_port()
    server = IvrServer(tmp_path, workers=1, PHONE_MIGRATION_SIP_FRONT__RUN="true",
                       PHONE_MIGRATION_SIP_FRONT__PORT=str(sip_port), PHONE_MIGRATION_SIP_FRONT__RPC_PORT=str(rpc_port),
                       PHONE_MIGRATION_SIP_FRONT__DIR=str(folder),
                       PHONE_MIGRATION_IVR__BACKOFF_INITIAL="1")  # a second to see /healthz say so
    try:
        health = server.wait_for(lambda h: h["ivr"].get("kamailio", {}).get("status") == "ok", 30, "Kamailio up")
        assert health["status"] == "ok" and health["ivr"]["sip_front"] == "kamailio"
        first = health["ivr"]["kamailio"]["workers"][0]
        assert (first["port"], first["restarts"]) == (sip_port, 0)
        assert server.ivr_port != sip_port  # the workers on loopback behind it
        a_call_is_answered(sip_port, tmp_path / "first")
        # what the front does not serve gets 405 with the Allow header RFC 3261 (21.4.6) asks for
        refused = one_request(sip_port, "MESSAGE", user="1001")
        assert refused.status == 405 and refused.all("Allow") == ["INVITE, ACK, CANCEL, BYE, OPTIONS, REGISTER"]
        assert f"sip:127.0.0.1:{server.ivr_port} " in (folder / "ivr-workers.list").read_text()
        old = kamailio_pids(folder)
        assert first["pid"] in old and len(old) > 1  # the main process and its children

        os.kill(first["pid"], signal.SIGKILL)
        killed = time.monotonic()
        down = server.wait_for(lambda h: h["status"] == "degraded", 3, "/healthz degraded")
        assert down["ivr"]["kamailio"]["workers"][0]["state"] == "restarting"
        health = server.wait_for(lambda h: h["ivr"]["kamailio"]["workers"][0]["restarts"] == 1
                                 and h["ivr"]["kamailio"]["status"] == "ok", 10, "Kamailio back")
        assert time.monotonic() - killed < 2.0 + 1.0  # back within 2 s (plus this poll's own pace)
        assert not old & kamailio_pids(folder)  # no child of the dead one holds the port
        assert server.events("sip_front_worker_exited")[0]["signal"] == signal.SIGKILL
        a_call_is_answered(sip_port, tmp_path / "again")
    finally:
        assert server.stop() == 0, server.log_text()[-3000:]
    assert kamailio_pids(folder) == set()  # stopped with the server
    assert [e["port"] for e in server.events("sip_front_worker_ended")] == [sip_port]


def test_i7_a_warm_pool_grows_as_calls_come_and_parks_its_idle_workers(tmp_path):
    """I-7 with the forked workers (I-6) behind the Kamailio serve runs: 1 of 3 workers started on a quiet
    site; calls taking its spare slots start more, which Kamailio is told of at once and sends calls to;
    once the calls ended and 2 s passed, the site is back to 1 started worker (parked, not restarted)."""
    need("kamailio", "kamailio")
    need("sipp", "sip-tester")
    sip_port, rpc_port = free_sip_ports(2), free_port()
    server = IvrServer(tmp_path, workers=3, up=1, PHONE_MIGRATION_SIP_FRONT__RUN="true",
                       PHONE_MIGRATION_SIP_FRONT__PORT=str(sip_port), PHONE_MIGRATION_SIP_FRONT__RPC_PORT=str(rpc_port),
                       PHONE_MIGRATION_SIP_FRONT__DIR=str(tmp_path / "kamailio"), PHONE_MIGRATION_IVR__ZYGOTE="true",
                       PHONE_MIGRATION_IVR__WARM="1", PHONE_MIGRATION_IVR__RETIRE_AFTER="2")

    def states(health: dict) -> list[str]:
        return sorted(w["state"] for w in health["ivr"]["workers"])

    try:
        quiet = server.wait_for(lambda h: h["ivr"].get("kamailio", {}).get("status") == "ok", 30, "Kamailio up")
        assert states(quiet) == ["parked", "parked", "up"] and quiet["status"] == "ok"
        held_dir = tmp_path / "held"
        held_dir.mkdir()
        held = sipp("ivr_call.xml", sip_port, held_dir, "-l", "4", "-r", "20", "-d", "10000", calls=4, timeout=60)
        try:
            for n in range(1, 5):
                wait_for_file(held_dir / f"answered.{n}", 20)
            server.wait_for(lambda h: h["ivr"]["up"] >= 2, 20, "more workers up")
            a_call_is_answered(sip_port, tmp_path / "fifth")
            assert finish(held, 60) == 0, (held_dir / "ivr_call.xml.out").read_text(errors="replace")[-2000:]
        finally:
            if held.poll() is None:
                held.kill()
                held.wait()
        grew = {event["port"] for event in server.events("ivr_pool_grew")}
        answering = {event["port"] for event in server.events("ivr_worker_up")} & grew
        assert grew and answering == grew  # every worker started for the calls came up
        back = server.wait_for(lambda h: states(h) == ["parked", "parked", "up"], 30, "the idle workers parked")
        assert all(w["restarts"] == 0 for w in back["ivr"]["workers"]) and not server.events("ivr_worker_exited")
        assert len(server.events("ivr_call_ended")) == 5 and not server.events("ivr_pool_dispatcher_failed")
    finally:
        assert server.stop() == 0, server.log_text()[-3000:]
