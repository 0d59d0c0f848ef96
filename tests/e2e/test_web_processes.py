"""``phone-migration serve --web-processes 2`` (``phoneservice.processes.webprocs``): both
processes take connections, a screen flow hops between them and still ends in
the migration, an admin UI BAT import's page answers from either process (E-4),
/metrics and /healthz answer for the whole server from either process, a killed
web worker comes back, and SIGTERM stops them all."""

from __future__ import annotations

import http.cookiejar
import json
import os
import re
import secrets
import signal
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parents[1]))
from test_screens_phone import config_lines, walk  # noqa: E402
from test_server import Server, logged_secrets  # noqa: E402

from models.services.demo import ADMIN_PASSWORD, ADMIN_USER  # noqa: E402

pytestmark = pytest.mark.slow
ATTEMPTS = 60  # fresh connections tried before concluding one process takes none
ALL_DETAILS = (Path(__file__).parents[1] / "data" / "bat" / "all_details.csv").read_bytes()
TOKEN = re.compile(r'name="csrf_token" value="([^"]+)"')
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


class AdminBrowser:
    """The admin UI over HTTP with a cookie jar; each request is a new connection (the kernel picks the
    process that takes it)."""

    def __init__(self, base: str) -> None:
        self.base = base
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()),
                                                  NoRedirect())

    def request(self, path: str, data: bytes | None = None, content_type: str | None = None) -> tuple[int, str, str]:
        req = urllib.request.Request(self.base + path, data=data)
        if content_type:
            req.add_header("Content-Type", content_type)
        try:
            with self.opener.open(req, timeout=10) as response:
                return response.status, response.read().decode(), response.headers.get("Location", "")
        except urllib.error.HTTPError as answer:  # 3xx (not followed) and 4xx land here
            return answer.code, answer.read().decode(), answer.headers.get("Location", "")

    def token(self, path: str) -> str:
        return TOKEN.search(self.request(path)[1]).group(1)

    def log_in(self) -> None:
        form = {"csrf_token": self.token("/admin/login"), "username": ADMIN_USER, "password": ADMIN_PASSWORD}
        assert self.request("/admin/login", urllib.parse.urlencode(form).encode())[0] == 302

    def upload(self, name: str, data: bytes) -> tuple[int, str, str]:
        boundary = secrets.token_hex(12)
        body = (f'--{boundary}\r\nContent-Disposition: form-data; name="csrf_token"\r\n\r\n{self.token("/admin/bat")}\r\n'
                f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{name}"\r\n'
                f"Content-Type: text/csv\r\n\r\n").encode() + data + f"\r\n--{boundary}--\r\n".encode()
        return self.request("/admin/bat/import", body, f"multipart/form-data; boundary={boundary}")


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


def test_e4_an_admin_ui_import_is_followed_from_either_process(server):
    """E-4: the upload answers with the import's page, which either web process answers (the import is a
    row in the database, not one process's memory): running, then its summary; never "no such import"."""
    admin = AdminBrowser(f"http://127.0.0.1:{server.web}")
    admin.log_in()
    status, _, location = admin.upload("phones.csv", ALL_DETAILS)
    assert status == 303 and "/admin/bat/import/" in location, status
    path = urllib.parse.urlsplit(location).path
    served_by: set[str] = set()
    for _ in range(ATTEMPTS):
        status, html, _ = admin.request(path)
        assert status == 200, html[-2000:]
        if 'http-equiv="refresh"' not in html:
            assert "5 phones imported" in html, html[-2000:]
            served_by = {json.loads(line)["pid"] for line in log_of(server).splitlines()
                         if '"http_request"' in line and path in line}
            if len(served_by) == 2:
                break
        time.sleep(0.05)
    assert len(served_by) == 2, "one process answered every request for the page"
    assert len(re.findall(r'"event": "admin_bat_import_ended".*"outcome": "done"', log_of(server))) == 1


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
