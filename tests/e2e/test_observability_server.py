"""H-3 end to end: a real ``serve`` with two web processes and an IVR worker: the request id
round trip, the access log's id and duration, and /metrics naming every process."""

from __future__ import annotations

import json
import re
import socket
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from test_server import Server, free_port  # noqa: E402

pytestmark = pytest.mark.slow


def fetch(url: str, headers: dict | None = None):
    with urllib.request.urlopen(urllib.request.Request(url, headers=headers or {}), timeout=10) as response:
        return response.status, response.headers, response.read()


def access_lines(server: Server) -> list[dict]:
    lines = [json.loads(line) for line in (server.dir / "server.log").read_text().splitlines() if line.startswith("{")]
    return [line for line in lines if line.get("event") == "http_request"]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    mp = pytest.MonkeyPatch()
    mp.setenv("PHONE_MIGRATION_WEB__PROCESSES", "2")
    try:
        server = Server(tmp_path_factory.mktemp("observe"),
                        ivr_args=("--ivr-workers", "1", "--ivr-port", str(free_port(socket.SOCK_DGRAM))))
    finally:
        mp.undo()
    server.wait_web_workers(2)
    wait_ivr_up(server)
    yield server
    server.stop()


def wait_ivr_up(server: Server, seconds: float = 60) -> None:
    """Until /healthz answers 200 ten times in a row: before the IVR worker is up it answers 503
    degraded (R-8), and each web process learns that the worker is up on its own, a moment apart."""
    deadline, streak, last = time.monotonic() + seconds, 0, None
    while time.monotonic() < deadline and streak < 10:
        try:
            fetch(f"http://127.0.0.1:{server.web}/healthz")
            streak += 1
        except urllib.error.HTTPError as exc:
            exc.close()
            streak, last = 0, exc.code
        time.sleep(0.1)
    assert streak >= 10, f"/healthz did not stay 200 within {seconds} s (last: {last})"


def test_h3_the_request_id_comes_back_and_is_logged_with_the_duration(server):
    """H-3: the caller's X-Request-Id is answered and logged with the request's ms; without one, a new id."""
    base = f"http://127.0.0.1:{server.web}"
    status, headers, _ = fetch(base + "/healthz?pin=1234", {"X-Request-Id": "lb-req-0001"})
    assert headers["X-Request-Id"] == "lb-req-0001"
    _, headers, _ = fetch(base + "/healthz")
    fresh = headers["X-Request-Id"]
    assert re.fullmatch(r"[0-9a-f]{32}", fresh)
    _, headers, _ = fetch(base + "/healthz", {"X-Request-Id": "bad id with spaces"})
    assert re.fullmatch(r"[0-9a-f]{32}", headers["X-Request-Id"])
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        logged = {line["request_id"]: line for line in access_lines(server)}
        if "lb-req-0001" in logged and fresh in logged:
            break
        time.sleep(0.2)
    assert "lb-req-0001" in logged and fresh in logged, (  # say what was logged, and by which process
        [(line.get("pid"), line.get("uri"), line.get("request_id")) for line in access_lines(server)][-20:],
        (server.dir / "server.log").read_text(errors="replace")[-3000:])
    line = logged["lb-req-0001"]
    assert line["uri"] == "/healthz?pin=***" and line["status"] == status
    assert isinstance(line["ms"], (int, float)) and 0 <= line["ms"] < 10000
    assert logged[fresh]["uri"] == "/healthz"


def test_h3_metrics_name_every_process_whichever_answers(server):
    """H-3: with two web processes, each /metrics answer has pm_process_* for the main process, the web
    worker and the IVR worker, the build info, and the HTTP requests by route rule."""
    base = f"http://127.0.0.1:{server.web}"
    for name in ("SEP001122330002", "SEP001122330033"):
        fetch(base + f"/screens/identify?name={name}")
    seen = set()
    for _ in range(12):  # SO_REUSEPORT spreads the connections over both processes
        _, _, body = fetch(base + "/metrics")
        text = body.decode()
        processes = set(re.findall(r'^pm_process_resident_memory_bytes\{process="([^"]+)"\}', text, re.M))
        assert {"main", "web worker 1"} <= processes and any(p.startswith("ivr worker") for p in processes), text
        assert re.search(r'^pm_build_info\{python="3\.11\.\d+",version="[^"]+"\} 1\.0$', text, re.M)
        assert 'route="/screens/identify"' in text and "SEP0011" not in text
        seen.update(line["pid"] for line in access_lines(server) if line["uri"] == "/metrics")
    assert len(seen) == 2  # both processes answered /metrics
