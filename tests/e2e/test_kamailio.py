"""Kamailio's dispatcher (docs/deploy/kamailio.cfg, the shipped file) in front of
3 real IVR workers started by ``serve --ivr-workers 3``: 12 simultaneous calls
are all answered and completed, 4 per worker; a 13th gets 503 at once. Also: a
killed worker is skipped, restarted by the supervisor and back in rotation;
calls over TCP; workers that answer 486 are tried at most 4 times (fake workers)."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ivr.kamailio import WorkerHost, dispatcher_list, write_dispatcher_list
from ivr.kamailio import main as kamailio_main

sys.path.insert(0, str(Path(__file__).parent))
from test_ivr_supervised import (  # noqa: E402
    IvrServer,
    finish,
    free_port,
    free_sip_ports,
    need,
    sipp,
    wait_for_file,
)

CFG = Path(__file__).parents[2] / "docs" / "deploy" / "kamailio.cfg"
FAKE_WORKER = Path(__file__).parents[1] / "fake_worker.py"


# --- the dispatcher list (no Kamailio needed) ---------------------------------------
def test_dispatcher_list_has_one_line_per_worker_with_maxload_4():
    text = dispatcher_list([WorkerHost("10.0.0.5", 5071, 2), WorkerHost("10.0.0.6", 5071, 2)])
    assert text.splitlines()[1:] == [
        "1 sip:10.0.0.5:5071 0 0 duid=w1;maxload=4",
        "1 sip:10.0.0.5:5072 0 0 duid=w2;maxload=4",
        "1 sip:10.0.0.6:5071 0 0 duid=w3;maxload=4",
        "1 sip:10.0.0.6:5072 0 0 duid=w4;maxload=4",
    ]
    assert text.startswith("#")
    assert dispatcher_list([WorkerHost("::1", 5071, 1)], transport="tcp").splitlines()[1] == \
        "1 sip:[::1]:5071;transport=tcp 0 0 duid=w1;maxload=4"


def test_dispatcher_list_command_writes_the_file(tmp_path, capsys):
    out = tmp_path / "ivr-workers.list"
    assert kamailio_main(["--hosts", "10.0.0.5, 10.0.0.6", "--port", "5071", "--workers", "3", "-o", str(out)]) == 0
    assert len(out.read_text().splitlines()) == 7 and list(tmp_path.iterdir()) == [out]
    assert kamailio_main(["--port", "5080", "--workers", "1"]) == 0
    assert "1 sip:127.0.0.1:5080 0 0 duid=w1;maxload=4" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        kamailio_main(["--port", "65535", "--workers", "2"])


# --- Kamailio in front of real workers -------------------------------------------------
class Kamailio:
    def __init__(self, workdir: Path, ds_list: Path) -> None:
        need("kamailio", "kamailio")
        need("kamcmd", "kamailio")
        self.port = free_sip_ports(1)  # SIP over UDP and TCP
        self.rpc_port = free_port()  # the product's JSON-RPC (unused here)
        tcp_defines = ["-A", f"LISTEN_TCP=tcp:127.0.0.1:{self.port}", "-A", f"RPC_PORT={self.rpc_port}"]
        run = workdir / "run"
        run.mkdir()
        self.ctl = f"unix:{run}/kamailio_ctl"
        self.log_path = workdir / "kamailio.log"
        log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(
            ["kamailio", "-f", str(CFG), "-DD", "-E", "-m", "64", "-M", "8", "-w", str(workdir), "-Y", str(run),
             "-P", str(run / "kamailio.pid"), "-A", f"LISTEN=udp:127.0.0.1:{self.port}",
             "-A", f'DS_LIST="{ds_list}"', "-A", f'CTL_SOCKET="{self.ctl}"', *tcp_defines],
            stdout=log, stderr=subprocess.STDOUT)
        log.close()

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def loads(self) -> dict[int, tuple[str, int]]:
        """Worker port -> (flags, active calls) from ``kamcmd dispatcher.list``."""
        out = subprocess.run(["kamcmd", "-s", self.ctl, "dispatcher.list"], capture_output=True, text=True,
                             timeout=10).stdout
        found = re.findall(r"URI: sip:127\.0\.0\.1:(\d+)\s+FLAGS: (\w+).*?DLGLOAD: (\d+)", out, re.S)
        return {int(port): (flags, int(load)) for port, flags, load in found}

    def wait_for(self, predicate, timeout: float, what: str) -> dict:
        deadline, last = time.monotonic() + timeout, {}
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, self.log_path.read_text(errors="replace")[-3000:]
            last = self.loads()
            if predicate(last):
                return last
            time.sleep(0.2)
        raise AssertionError(f"timed out waiting for {what}: {last}")

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode


@pytest.fixture(scope="module")
def front(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("kamailio")
    # a slow first restart: the killed worker must not come back while Kamailio still retries it
    server = IvrServer(workdir, workers=3, PHONE_MIGRATION_IVR__BACKOFF_INITIAL="4")
    kamailio = None
    try:
        ds_list = write_dispatcher_list(workdir / "ivr-workers.list", [WorkerHost("127.0.0.1", server.ivr_port, 3)])
        kamailio = Kamailio(workdir, ds_list)
        ports = [server.ivr_port + i for i in range(3)]
        kamailio.wait_for(lambda loads: sorted(loads) == ports and all(f == "AP" for f, _ in loads.values()),
                          20, "3 active workers")
        yield server, kamailio
    finally:
        if kamailio is not None:
            kamailio.stop()
        assert server.stop() == 0


def why_not_answered(workdir: Path, kamailio: Kamailio, log_before: str) -> str:
    errors = workdir / "ivr_call.xml.errors.log"
    routed = [line for line in kamailio.log()[len(log_before):].splitlines() if " DS-" in line or "ERROR" in line]
    return "\n".join([f"kamailio loads: {kamailio.loads()}", *routed[-40:],
                      errors.read_text(errors="replace")[-3000:] if errors.exists() else "no SIPp errors"])


def twelve_calls_then_one_refused(server: IvrServer, kamailio: Kamailio, workdir: Path) -> None:
    ports = [server.ivr_port + i for i in range(3)]
    log_before, answering_before = kamailio.log(), len(server.events("ivr_call_answering"))
    calls = sipp("ivr_call.xml", kamailio.port, workdir, "-l", "12", "-r", "50", "-d", "6000", calls=12, timeout=60)
    try:
        for n in range(1, 13):
            try:
                wait_for_file(workdir / f"answered.{n}", 20)
            except AssertionError as missing:  # say why: what SIPp saw, what Kamailio did
                raise AssertionError(f"{missing}\n{why_not_answered(workdir, kamailio, log_before)}") from None
        loads = kamailio.loads()
        assert {port: load for port, (_, load) in loads.items()} == {port: 4 for port in ports}

        began = time.monotonic()
        refused = sipp("ivr_busy.xml", kamailio.port, workdir, timeout=10)
        assert finish(refused, 15) == 0, (workdir / "ivr_busy.xml.out").read_text(errors="replace")[-2000:]
        assert time.monotonic() - began < 2.0  # at once: no worker was tried
        assert finish(calls, 60) == 0, (workdir / "ivr_call.xml.out").read_text(errors="replace")[-2000:]
    finally:
        if calls.poll() is None:
            calls.kill()
            calls.wait()
    # every call's BYE passed through Kamailio: every slot is free again
    kamailio.wait_for(lambda loads: all(load == 0 for _, load in loads.values()), 10, "loads back to 0")
    log = kamailio.log()[len(log_before):]
    answered = set(re.findall(r"DS-ANSWERED ci=(\S+) by 127\.0\.0\.1:(\d+)", log))  # a set: 200 OKs may be resent
    assert sorted(port for _, port in answered) == sorted(str(p) for p in ports for _ in range(4))
    assert log.count("DS-FULL") == 1 and "DS-FAILOVER" not in log
    # lock("ivr") made picking and counting one step: a lock that locks nothing is an ERROR line
    assert "lock set not initialized" not in kamailio.log()
    # each worker says so too: 12 more calls answered, and ended
    assert len(server.events("ivr_call_answering")) == answering_before + 12
    server.wait_for(lambda h: len(server.events("ivr_call_ended")) == answering_before + 12, 10, "12 calls ended")


@pytest.mark.slow
def test_twelve_calls_spread_four_per_worker_and_the_thirteenth_gets_503(front, tmp_path):
    server, kamailio = front
    twelve_calls_then_one_refused(server, kamailio, tmp_path)


@pytest.mark.slow
def test_a_killed_worker_is_skipped_restarted_and_back_in_rotation(front, tmp_path):
    server, kamailio = front
    victim = server.health()["ivr"]["workers"][0]
    os.kill(victim["pid"], signal.SIGKILL)
    # 3 calls at once: least-active-calls sends one of them to the dead worker;
    # it times out there (fr_timer 2 s) and is answered by another worker.
    calls = sipp("ivr_call.xml", kamailio.port, tmp_path, "-l", "3", "-r", "50", "-d", "1000", calls=3, timeout=30)
    assert finish(calls, 40) == 0, (tmp_path / "ivr_call.xml.out").read_text(errors="replace")[-2000:]
    assert f"sip:127.0.0.1:{victim['port']} -> inactive" in kamailio.log()  # DS-TIMEOUT there
    health = server.wait_for(lambda h: h["ivr"]["workers"][0]["state"] == "up"
                             and h["ivr"]["workers"][0]["pid"] != victim["pid"], 30, "the worker restarted")
    assert health["ivr"]["workers"][0]["restarts"] == 1
    # Kamailio's OPTIONS pings (every 5 s) see it answer again
    kamailio.wait_for(lambda loads: loads[victim["port"]][0] == "AP", 20, "the worker active again")
    again = tmp_path / "again"
    again.mkdir()
    twelve_calls_then_one_refused(server, kamailio, again)


@pytest.mark.slow
def test_calls_over_tcp_reach_the_workers_over_udp(front, tmp_path):
    """Cisco trunks often use TCP: Kamailio records two routes and relays to the UDP workers."""
    server, kamailio = front
    before = len(server.events("ivr_call_ended"))
    calls = sipp("ivr_call.xml", kamailio.port, tmp_path, "-t", "t1", "-l", "2", "-r", "10", "-d", "1000",
                 calls=2, timeout=30)
    assert finish(calls, 40) == 0, (tmp_path / "ivr_call.xml.out").read_text(errors="replace")[-2000:]
    kamailio.wait_for(lambda loads: all(load == 0 for _, load in loads.values()), 10, "loads back to 0")
    server.wait_for(lambda h: len(server.events("ivr_call_ended")) == before + 2, 10, "2 calls ended")


@pytest.mark.slow
def test_full_workers_are_tried_at_most_four_times_then_503(tmp_path):
    """Workers that answer 486 (full, though Kamailio's loads said otherwise): 4 tries, then 503, no slot leaked."""
    first = free_sip_ports(6)
    workers = [subprocess.Popen([sys.executable, str(FAKE_WORKER), "--database", "unused", "--port", str(port), "--busy"],
                                stdout=subprocess.PIPE, text=True) for port in range(first, first + 6)]
    kamailio = None
    try:
        for worker in workers:
            assert worker.stdout.readline().startswith("READY")
        ds_list = write_dispatcher_list(tmp_path / "ivr-workers.list", [WorkerHost("127.0.0.1", first, 6)])
        kamailio = Kamailio(tmp_path, ds_list)
        kamailio.wait_for(lambda loads: len(loads) == 6 and all(f == "AP" for f, _ in loads.values()), 20, "6 workers")
        refused = sipp("ivr_busy.xml", kamailio.port, tmp_path, timeout=15)
        assert finish(refused, 20) == 0, (tmp_path / "ivr_busy.xml.out").read_text(errors="replace")[-2000:]
        log = kamailio.log()
        assert log.count("DS-FAILOVER") == 3 and "code=486" in log and "tries=4" in log
        assert all(load == 0 for _, load in kamailio.loads().values())  # ds_load_unset() freed the pending slot
    finally:
        if kamailio is not None:
            kamailio.stop()
        for worker in workers:
            worker.terminate()
            worker.wait(timeout=15)
            worker.stdout.close()
