"""``phoneservice.processes.webprocs`` without a network: what a web worker says on /healthz,
the socket every web process opens, the worker's command (the e2e module
``tests/e2e/test_web_processes.py`` runs the real thing)."""

from __future__ import annotations

import socket
from types import SimpleNamespace

import pytest

from phoneservice import observe
from phoneservice.processes import webprocs


@pytest.fixture
def shared(tmp_path, monkeypatch):
    monkeypatch.setenv(observe.METRICS_ENV, str(tmp_path))
    return tmp_path


def test_a_worker_reports_what_the_main_process_last_wrote(services, shared):
    services.cache_warm = True
    observe.write_status(shared, services.status())
    services.process = "web worker 1"
    services.cache_warm = False  # a worker's own flag means nothing
    status = services.status()
    assert status == {"ivr": {"status": "disabled", "up": 0, "workers": []}, "config_cache": "warm", "draining": False}
    services.draining = True  # its own draining counts
    assert services.status()["draining"] is True
    assert not list(shared.glob(".status-*"))  # written whole, then renamed


def test_a_worker_before_the_first_status_says_unknown(services, shared):
    services.process = "web worker 1"
    assert services.status()["ivr"]["status"] == "unknown"
    (shared / observe.STATUS_FILE).write_text("{half")
    assert services.status()["config_cache"] == "warming"


def test_every_web_process_listens_on_the_same_port():
    first = webprocs.listening_socket("127.0.0.1", 0)
    try:
        second = webprocs.listening_socket("127.0.0.1", first.getsockname()[1])
        second.close()
    finally:
        first.close()
    with socket.socket() as taken:  # a port someone holds without SO_REUSEPORT stays theirs
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        with pytest.raises(OSError):
            webprocs.listening_socket("127.0.0.1", taken.getsockname()[1])


def test_the_workers_get_the_main_process_config_and_the_bound_port(services, monkeypatch):
    from phoneservice.config import ServerConfig, load_config

    config = load_config(database={"url": "sqlite:///x.db"}, web={"port": 0, "processes": 3})
    supervisor = webprocs.web_workers(config, 41234, reactor=SimpleNamespace(spawnProcess=None))
    env = supervisor._env
    passed = ServerConfig.model_validate_json(env[webprocs.CONFIG_ENV])
    assert passed.web.port == 41234 and passed.database.url == "sqlite:///x.db" and passed.web.processes == 3
    assert len(supervisor._workers) == 2
    assert supervisor._command(1)[-4:] == ["-m", "phoneservice.processes.web_worker", "--index", "1"]
