"""``phone-migration serve --web-processes 2`` (``phoneservice.processes.webprocs``): both
processes take connections, a screen flow hops between them and still ends in
the migration, /metrics and /healthz answer for the whole server from either
process, a killed web worker comes back, and SIGTERM stops them all."""

from __future__ import annotations

import json
import os
import re
import signal
import sys
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parents[1]))
from test_screens_phone import config_lines, walk  # noqa: E402
from test_server import Server, logged_secrets  # noqa: E402

pytestmark = pytest.mark.slow
ATTEMPTS = 60  # fresh connections tried before concluding one process takes none
FLOWS = [("AABBCC000201", "1012", "1739"), ("AABBCC000202", "1001", "7314"),
         ("AABBCC000203", "1002", "5093"), ("AABBCC000204", "1003", "8162")]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    srv = Server(tmp_path_factory.mktemp("webprocs"), ("--ivr-workers", "0", "--web-processes", "2"))
    srv.wait_web_workers(2)
    yield srv
    worker_pids = set(re.findall(r'"event": "web_worker_up", "port": 1, "pid": (\d+)', log_of(srv)))
    assert srv.stop() == 0
    log = log_of(srv)
    assert "server_stopped" in log and "web_drained" in log
    for pid in worker_pids:  # no web worker outlives the server
        assert not Path(f"/proc/{pid}").exists() or "zombie" in Path(f"/proc/{pid}/status").read_text()
    assert not logged_secrets(log, ("1739", "7314", "5093", "8162")), "a secret in the server log"


def log_of(server) -> str:
    return (server.dir / "server.log").read_text()


def health(server) -> dict:
    status, body = server.get(f"http://127.0.0.1:{server.web}/healthz")
    assert status == 200, body
    return json.loads(body)


def metric(server, line_start: str) -> tuple[float, str]:
    """A sample's value, and which process answered (the healthz asked on its own connection can't tell)."""
    status, body = server.get(f"http://127.0.0.1:{server.web}/metrics")
    assert status == 200
    found = [line for line in body.decode().splitlines() if line.startswith(line_start)]
    return (float(found[0].rsplit(" ", 1)[1]) if found else 0.0), body.decode()


def test_both_processes_take_connections(server):
    seen = set()
    for _ in range(ATTEMPTS):  # each urllib request is a new connection
        seen.add(health(server)["process"])
        if len(seen) == 2:
            break
    assert seen == {"main", "web worker 1"}


def test_a_worker_answers_health_with_the_main_process_state(server):
    """The main process writes its state every second; a worker says what it last wrote."""
    answers: dict[str, dict] = {}
    deadline = time.monotonic() + 10
    for _ in range(ATTEMPTS * 4):
        h = health(server)
        answers[h["process"]] = h
        if len(answers) == 2 and (answers["main"]["config_cache"] == answers["web worker 1"]["config_cache"]
                                  or time.monotonic() > deadline):
            break
    assert answers["web worker 1"]["ivr"] == answers["main"]["ivr"] == {"status": "disabled", "up": 0, "workers": []}
    assert answers["web worker 1"]["config_cache"] == answers["main"]["config_cache"] == "warm"


def screen_pids(server, mac: str) -> set[str]:
    pids = set()
    for line in log_of(server).splitlines():
        if '"http_request"' in line and "/screens/" in line and f"SEP{mac}" in line:
            pids.add(json.loads(line)["pid"])
    return pids


def test_a_flow_hops_between_processes_and_still_migrates(server):
    """Every screen on a new connection: the kernel picks the process. At least one
    of the flows has its screens served by both (each flow alone: 15 in 16)."""
    hopped = 0
    for mac, ext, pin in FLOWS:
        phone, preview = walk(server, mac, ext, pin)
        done = phone.press(preview, "Confirm")
        assert done.doc.findtext("Prompt") == "Success", done.text
        assert config_lines(server, mac)[0] == ext
        hopped += len(screen_pids(server, mac)) == 2
    assert hopped >= 1
    # /metrics from either process counts the migrations of both
    totals = set()
    for _ in range(10):
        value, _ = metric(server, 'pm_migrations_total{door="screen",outcome="migrated"}')
        totals.add(value)
    assert totals == {float(len(FLOWS))}


def test_a_killed_web_worker_is_started_again(server):
    first = re.findall(r'"event": "web_worker_up", "port": 1, "pid": (\d+)', log_of(server))
    os.kill(int(first[-1]), signal.SIGKILL)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        ups = re.findall(r'"event": "web_worker_up", "port": 1, "pid": (\d+)', log_of(server))
        if len(ups) > len(first):
            break
        time.sleep(0.2)
    else:
        pytest.fail("the web worker was not started again: " + log_of(server)[-3000:])
    assert '"event": "web_worker_exited"' in log_of(server)
    restarts, _ = metric(server, "pm_web_worker_restarts_total")
    assert restarts == 1.0
    server.wait_web_workers(2)
    test_both_processes_take_connections(server)
