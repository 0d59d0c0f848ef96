"""H-3: what an operator sees of a running server from outside (phoneservice/observe.py,
phoneservice/web/observed.py, phoneservice/processes/access.py, the supervisor's CALLS lines).
The real server, with several web processes, is in tests/e2e/test_observability_server.py."""

from __future__ import annotations

import logging
import os
import platform
import re
import subprocess
import sys

import pytest
from prometheus_client import CollectorRegistry, generate_latest
from twisted.internet.error import ConnectionDone
from twisted.python.failure import Failure
from twisted.web.test.requesthelper import DummyChannel

from ivr import adapter
from phoneservice.config import load_config
from phoneservice.observe import ProcessesCollector, build_version, request_id
from phoneservice.processes.access import ObservedRequest
from phoneservice.processes.server import build_services
from phoneservice.web.app import create_app
from tests.test_sip_adapter import CallerId, Rig
from tests.test_supervisor import rig  # noqa: F401  (the supervisor with a fake launcher)


def test_h3_a_request_id_is_the_callers_when_sane_else_a_new_one():
    """H-3: an incoming X-Request-Id is kept; none, or one unfit for a log line, gets a new id."""
    assert request_id("lb-7f3a.01:host@a") == "lb-7f3a.01:host@a"
    fresh = {request_id(value) for value in (None, "", "x" * 129, "has space", 'quote"', "new\nline", "é")}
    assert len(fresh) == 7 and all(re.fullmatch(r"[0-9a-f]{32}", value) for value in fresh)


@pytest.fixture
def app(sqlite_url):
    svc = build_services(load_config(database={"url": sqlite_url}))
    svc.db.create_all()
    yield create_app(svc, "web"), svc
    svc.close()


def metric_lines(svc, name: str) -> list[str]:
    text = generate_latest(svc.metrics.registry).decode()
    return [line for line in text.splitlines() if line.startswith(name)]


def test_h3_http_requests_are_counted_and_timed_by_route_rule_not_raw_path(app):
    """H-3: one series per route rule whatever the path's values; unknown paths share one series."""
    flask_app, svc = app
    client = flask_app.test_client()
    for name in ("SEP001122334455", "SEPAABBCCDDEEFF", "SEP000000000001"):
        assert client.get(f"/api/v1/devices/{name}").status_code == 401  # no token: still its route
    for path in ("/nope", "/random/1", "/random/2"):
        assert client.get(path).status_code == 404
    client.get("/healthz")
    counts = metric_lines(svc, "pm_http_requests_total")
    assert 'pm_http_requests_total{method="GET",route="/api/v1/devices/<name>",status="401"} 3.0' in counts
    assert 'pm_http_requests_total{method="GET",route="unmatched",status="404"} 3.0' in counts
    assert any('route="/healthz"' in line for line in counts)
    assert not any("SEP" in line or "random" in line for line in counts)
    timed = metric_lines(svc, "pm_http_request_seconds_count")
    assert 'pm_http_request_seconds_count{method="GET",route="/api/v1/devices/<name>"} 3.0' in timed
    buckets = metric_lines(svc, 'pm_http_request_seconds_bucket{le="+Inf",method="GET",route="unmatched"}')
    assert buckets == ['pm_http_request_seconds_bucket{le="+Inf",method="GET",route="unmatched"} 3.0']


def test_h3_an_odd_method_is_one_series(app):
    """H-3: a made-up HTTP method does not make a series of its own."""
    flask_app, svc = app
    flask_app.test_client().open("/healthz", method="BREW")
    assert any('method="other"' in line for line in metric_lines(svc, "pm_http_requests_total"))


def test_h3_build_info_says_the_version_and_python(app):
    """H-3: pm_build_info names this server's version and the Python it runs on."""
    _, svc = app
    [line] = metric_lines(svc, "pm_build_info")
    assert line == f'pm_build_info{{python="{platform.python_version()}",version="{build_version()}"}} 1.0'
    assert build_version() != "unknown"  # the package is installed (pip install -e .)


def test_h3_process_metrics_for_each_named_process():
    """H-3: pm_process_* for every process the server names, read from /proc, labelled by process."""
    child = subprocess.Popen([sys.executable, "-c", "import time; print('up', flush=True); time.sleep(30)"],
                             stdout=subprocess.PIPE)
    try:
        assert child.stdout.readline() == b"up\n"  # running Python, not between fork and exec
        registry = CollectorRegistry()
        registry.register(ProcessesCollector(lambda: {"main": os.getpid(), "ivr worker 5060": child.pid}))
        text = generate_latest(registry).decode()
        for process in ("main", "ivr worker 5060"):
            memory = re.search(rf'^pm_process_resident_memory_bytes{{process="{process}"}} (\S+)$', text, re.M)
            assert memory and float(memory.group(1)) > 0, text
            assert re.search(rf'^pm_process_cpu_seconds_total{{process="{process}"}} ', text, re.M)
            assert re.search(rf'^pm_process_open_fds{{process="{process}"}} ', text, re.M)
    finally:
        child.kill()
        child.wait()
        child.stdout.close()


def test_h3_a_gone_process_is_left_out_not_an_error():
    """H-3: a worker that died between the list and the scrape just has no pm_process_* lines."""
    registry = CollectorRegistry()
    registry.register(ProcessesCollector(lambda: {"gone": 2 ** 22 + 12345}))
    assert "process=\"gone\"" not in generate_latest(registry).decode()


def test_h3_ivr_calls_active_is_the_sum_of_the_workers_calls_lines(rig):  # noqa: F811
    """H-3: pm_ivr_calls_active is what the IVR workers last reported; a dead worker's calls end with it."""
    supervisor = rig(count=2)
    supervisor.startService()
    first, second = rig.launcher.running()
    first.ready()
    second.ready()
    first.say(b"CALLS 3\n")
    second.say(b"CALLS 1\nCALLS 2\n")
    assert supervisor.calls() == 5
    first.say(b"CALLS x\n")  # not a number: ignored
    assert supervisor.calls() == 5
    first.exit(sig=9)
    assert supervisor.calls() == 2
    assert set(supervisor.pids()) == {"ivr worker 5072"}


def test_h3_the_ivr_adapter_reports_each_change_in_its_calls():
    """H-3: the IVR worker's adapter tells the number of calls at each call's start and end."""
    reported: list[int] = []
    calls = Rig(on_calls=reported.append)
    first = calls.call(CallerId("9000"))
    calls.call(CallerId("9001"))
    assert reported == [1, 2]
    calls.adapter.disconnected(first.serial)  # the caller hangs up
    calls.threads.run()
    calls.clock.advance(adapter.RELEASE_AFTER)
    assert reported == [1, 2, 1] and len(calls.adapter.sessions) == 1


# --- the access log of a request whose connection ended first ----------------------------------
def access_events(caplog) -> list[dict]:
    return [r.fields for r in caplog.records if r.getMessage() == "http_request"]


def observed(path: bytes = b"/healthz") -> ObservedRequest:
    request = ObservedRequest(DummyChannel())
    request.method, request.uri, request.path, request.clientproto = b"GET", path, path, b"HTTP/1.1"
    return request


def test_h3_a_request_answered_whole_but_closed_before_its_finish_is_logged(caplog):
    """H-3: Twisted's WSGI sends a Flask body in one reactor turn and finishes in a later one; a client that read
    its Content-Length bytes may close in between. Such a request is still logged once, with its status and bytes."""
    request = observed(b"/healthz?pin=1234")
    request.started, request.request_id = 1.0, "lb-req-0002"
    request.setResponseCode(200)
    request.write(b"{}")
    with caplog.at_level(logging.INFO, logger="phone_migration"):
        request.connectionLost(Failure(ConnectionDone()))
    [line] = access_events(caplog)
    assert (line["status"], line["bytes"], line["request_id"], line["client_gone"]) == (200, 2, "lb-req-0002", True)
    assert line["uri"] == "/healthz?pin=***"


def test_h3_a_request_the_client_left_before_any_answer_has_no_status(caplog):
    request = observed()
    request.started, request.request_id = 1.0, "r1"
    with caplog.at_level(logging.INFO, logger="phone_migration"):
        request.connectionLost(Failure(ConnectionDone()))
    [line] = access_events(caplog)
    assert (line["status"], line["bytes"], line["client_gone"]) == (None, 0, True)


def test_h3_a_finished_or_never_received_request_is_not_logged_on_close(caplog):
    finished, unreceived = observed(), observed()
    finished.started, finished.finished = 1.0, 1  # logged by Site.log in finish()
    with caplog.at_level(logging.INFO, logger="phone_migration"):
        finished.connectionLost(Failure(ConnectionDone()))
        unreceived.connectionLost(Failure(ConnectionDone()))  # its request line never arrived whole
    assert access_events(caplog) == []
