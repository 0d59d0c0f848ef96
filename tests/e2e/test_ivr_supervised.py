"""End to end: ``phone-migration serve --demo --ivr-workers 1`` with the real
``ivr.worker`` under the supervisor, SIPp as the phone. A worker killed (SIGKILL)
in the middle of a call is restarted, nothing reaches the database, and the
next call on the same port is answered and walks the whole replace flow."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow
BIN = Path(sys.executable).parent
SCENARIOS = Path(__file__).parent / "sipp"


def free_port(kind=socket.SOCK_STREAM) -> int:
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def free_sip_ports(count: int) -> int:
    """The first of ``count`` consecutive ports free for UDP and TCP (a worker listens on both)."""
    for _ in range(100):
        first = free_port(socket.SOCK_DGRAM)
        if first + count > 65000:
            continue
        held = []
        try:
            for port in range(first, first + count):
                for kind in (socket.SOCK_DGRAM, socket.SOCK_STREAM):
                    s = socket.socket(socket.AF_INET, kind)
                    held.append(s)
                    s.bind(("127.0.0.1", port))
            return first
        except OSError:
            continue
        finally:
            for s in held:
                s.close()
    raise RuntimeError("no consecutive free ports")


def need(tool: str, package: str) -> None:
    if shutil.which(tool) is None:
        pytest.fail(f"{tool} is not installed (Debian: {package})")


class IvrServer:
    """``serve --demo`` with ``workers`` IVR workers on consecutive ports; SQLite in ``workdir``."""

    def __init__(self, workdir: Path, workers: int, up: int | None = None, **settings: str) -> None:
        """``settings``: more environment, e.g. ``PHONE_MIGRATION_IVR__BACKOFF_INITIAL="4"``; ``up``: how many
        workers to wait for (default: all; fewer with a warm pool, I-7)."""
        self.dir, self.workers = workdir, workers
        self.web, self.cfg, self.tftp = free_port(), free_port(), free_port(socket.SOCK_DGRAM)
        self.ivr_port = free_sip_ports(workers)
        self.db_path = workdir / "pm.db"
        self.url = f"sqlite:///{self.db_path}"
        for sub in ("loads", "licenses"):
            (workdir / sub).mkdir(exist_ok=True)
        env = dict(os.environ, PHONE_MIGRATION_FILES__LOADS_DIR=str(workdir / "loads"),
                   PHONE_MIGRATION_FILES__LICENSES_DIR=str(workdir / "licenses"), **settings)
        self.log_path = workdir / "server.log"
        self.log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(
            [str(BIN / "phone-migration"), "--database", self.url, "serve", "--demo", "--web-port", str(self.web),
             "--config-port", str(self.cfg), "--tftp-port", str(self.tftp), "--ivr-workers", str(workers),
             "--ivr-port", str(self.ivr_port)],
            cwd=workdir, env=env, stdout=self.log, stderr=subprocess.STDOUT)
        try:
            self.wait_for(lambda h: h.get("ivr", {}).get("up") == (workers if up is None else up), 90,
                          "every IVR worker up")
        except Exception:
            self.stop()
            raise

    def health(self) -> dict:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.web}/healthz", timeout=5) as response:
                return json.loads(response.read())
        except urllib.error.HTTPError as exc:
            return json.loads(exc.read())

    def metrics(self) -> str:
        with urllib.request.urlopen(f"http://127.0.0.1:{self.web}/metrics", timeout=5) as response:
            return response.read().decode()

    def wait_for(self, predicate, timeout: float, what: str) -> dict:
        deadline, last = time.monotonic() + timeout, {}
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"server exited ({self.proc.returncode}) waiting for {what}:\n{self.log_text()[-4000:]}")
            try:
                last = self.health()
                if predicate(last):
                    return last
            except OSError:
                pass
            time.sleep(0.2)
        raise AssertionError(f"timed out waiting for {what}; last /healthz: {last}\n{self.log_text()[-4000:]}")

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace")

    def events(self, name: str) -> list[dict]:
        found = []
        for line in self.log_text().splitlines():
            if f'"{name}"' in line and line.startswith("{"):
                try:
                    event = json.loads(line)
                except ValueError:
                    continue
                if event.get("event") == name:
                    found.append(event)
        return found

    def stop(self, timeout: float = 30) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()
        return self.proc.returncode


def sipp(scenario: str, port: int, cwd: Path, *extra: str, calls: int = 1, timeout: int = 60) -> subprocess.Popen:
    """SIPp as the phone(s), to ``127.0.0.1:port``; its -timeout bounds it."""
    need("sipp", "sip-tester")
    argv = ["sipp", f"127.0.0.1:{port}", "-sf", str(SCENARIOS / scenario), "-i", "127.0.0.1", "-mi", "127.0.0.1",
            "-p", str(free_port(socket.SOCK_DGRAM)), "-mp", str(free_sip_ports(4)), "-m", str(calls), "-nostdin",
            "-timeout", f"{timeout}s", "-trace_err", "-error_file", str(cwd / f"{scenario}.errors.log"), *extra]
    out = open(cwd / f"{scenario}.out", "ab")
    try:
        return subprocess.Popen(argv, cwd=cwd, stdout=out, stderr=subprocess.STDOUT)
    finally:
        out.close()


def finish(proc: subprocess.Popen, timeout: float) -> int:
    try:
        return proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        raise


def database_dump(path: Path) -> list[str]:
    conn = sqlite3.connect(path)
    try:
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        return list(conn.iterdump())
    finally:
        conn.close()


@pytest.fixture
def server(tmp_path):
    srv = IvrServer(tmp_path, workers=1)
    yield srv
    assert srv.stop() == 0, srv.log_text()[-3000:]


def wait_for_file(path: Path, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        assert time.monotonic() < deadline, f"{path.name} never appeared"
        time.sleep(0.1)


def a_call_is_answered(port: int, workdir: Path) -> None:
    """SIPp as the demo's new phone calls the route point at ``port`` (a worker, or Kamailio): answered, ended."""
    workdir.mkdir()
    call = sipp("ivr_call.xml", port, workdir, "-d", "300", timeout=30)
    try:
        wait_for_file(workdir / "answered.1", 20)
        assert finish(call, 30) == 0, (workdir / "ivr_call.xml.out").read_text(errors="replace")[-2000:]
    finally:
        if call.poll() is None:
            call.kill()
            call.wait()


def test_worker_killed_mid_call_is_restarted_and_the_next_call_is_answered(server, tmp_path):
    port = server.ivr_port
    first = server.health()["ivr"]["workers"][0]
    assert (first["port"], first["state"], first["restarts"]) == (port, "up", 0)
    before = database_dump(server.db_path)

    held = sipp("ivr_call.xml", port, tmp_path, "-d", "60000", timeout=90)  # answered, then stays in the menu
    try:
        wait_for_file(tmp_path / "answered.1", 20)
        time.sleep(1.0)  # the welcome prompt is playing
        assert server.events("ivr_call_answering") and not server.events("ivr_call_ended")
        assert "pm_ivr_calls_active 1.0" in server.metrics()  # H-3: the worker's CALLS line reached the server
        os.kill(first["pid"], signal.SIGKILL)
        health = server.wait_for(lambda h: h["ivr"]["workers"][0]["pid"] not in (None, first["pid"])
                                 and h["ivr"]["workers"][0]["state"] == "up", 30, "the worker restarted")
    finally:
        held.kill()
        held.wait()
    again = health["ivr"]["workers"][0]
    assert (again["port"], again["restarts"], health["ivr"]["status"]) == (port, 1, "ok")
    exited = server.events("ivr_worker_exited")
    assert [(e["port"], e["pid"], e["signal"]) for e in exited] == [(port, first["pid"], signal.SIGKILL)]
    assert [e["pid"] for e in server.events("ivr_worker_up")] == [first["pid"], again["pid"]]  # READY again
    assert len(server.events("ivr_worker_ready")) == 2  # the worker's own line, once per start
    metrics = server.metrics()
    assert "pm_ivr_workers_up 1.0" in metrics and "pm_ivr_worker_restarts_total 1.0" in metrics
    assert "pm_ivr_calls_active 0.0" in metrics  # H-3: the killed worker's call ended with it

    assert database_dump(server.db_path) == before  # the killed call left nothing behind

    # The next call to the same port: 200 OK, a while in the menu, a clean BYE.
    call = sipp("ivr_call.xml", port, tmp_path, "-d", "2000", timeout=30)
    assert finish(call, 40) == 0, (tmp_path / "ivr_call.xml.out").read_text(errors="replace")[-2000:]

    # And the whole replace flow by RFC 2833 digits: the demo's new phone takes olivia's line.
    flow = sipp("ivr_replace.xml", port, tmp_path, timeout=60)
    assert finish(flow, 70) == 0, (tmp_path / "ivr_replace.xml.out").read_text(errors="replace")[-2000:]
    report = subprocess.run([str(BIN / "phone-migration"), "--database", server.url, "report"],
                            capture_output=True, text=True, timeout=60)
    assert [line.split()[2:6] for line in report.stdout.splitlines() if " migrated " in line] == [
        ["ivr", "migrated", "SEP001122330033", "->"]]
    assert "SEP00AA11BB22CC" in report.stdout
    engine = [(e["op"], e["outcome"]) for e in server.events("ivr_engine")]
    assert engine == [("identify", "ok"), ("authenticate", "ok"), ("select", "ok"), ("preview", "ok"),
                      ("replace", "ok")]
    for event in (json.loads(line) for line in server.log_text().splitlines() if line.startswith("{")):
        quiet = {k: v for k, v in event.items() if k not in ("ts", "pid")}
        assert "1739" not in json.dumps(quiet), event  # the PIN never reaches a log


def test_stop_drains_the_workers(server):
    pid = server.health()["ivr"]["workers"][0]["pid"]
    began = time.monotonic()
    assert server.stop() == 0
    assert time.monotonic() - began < 10
    assert [e["pid"] for e in server.events("ivr_worker_ended")] == [pid]
    assert server.events("ivr_worker_ended")[0]["exit_code"] == 0  # drained on SIGTERM, not killed
    assert server.events("ivr_drained") == [server.events("ivr_drained")[0]] and not server.events("ivr_worker_killed")
    assert not Path(f"/proc/{pid}").exists() or Path(f"/proc/{pid}/stat").read_text().split()[2] == "Z"
