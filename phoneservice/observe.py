"""Structured logs (one JSON line per event) and Prometheus metrics, in every process.

``log_event`` is the only way the server logs an event. It drops any field
whose name says it holds a secret, so a PIN or code can't reach a log by
accident (A-6); callers never pass them in the first place. The IVR logs
through the standard ``logging`` module (``ivr.log``), so ``setup_logging``
drops the same fields again on the handler, whoever logged the record.

With several web processes (``web.processes``) the metrics live in
prometheus_client's multiprocess files, in a directory made per run
(``start_shared_metrics``), beside the main process's state for the workers'
``/healthz`` (``write_status`` / ``read_status``).
"""

from __future__ import annotations

import json
import logging
import os
import platform
import re
import sys
import tempfile
import time
import uuid
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Callable

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    ProcessCollector,
    generate_latest,
    multiprocess,
    values,
)
from prometheus_client.metrics_core import Metric
from twisted.internet import task
from twisted.logger import FilteringLogObserver, PredicateResult, STDLibLogObserver, globalLogBeginner

SECRET_FIELDS = {"pin", "code", "secret", "password", "auth_code", "authcode", "token"}
logger = logging.getLogger("phone_migration")  # ivr.log logs on the same one
METRICS_ENV = "PROMETHEUS_MULTIPROC_DIR"
STATUS_FILE = "main-status.json"
PROCESSES_FILE = "processes.json"  # the main process's {process: pid}, for every /metrics
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:@/+=-]{1,128}$")  # an incoming X-Request-Id kept as it is
HTTP_METHODS = {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"}


def scrub(fields: dict) -> dict:
    """The fields fit for a log: none whose name says it holds a secret (A-6)."""
    return {k: v for k, v in fields.items() if k.lower() not in SECRET_FIELDS}


class SecretFilter(logging.Filter):
    """On the log handler: a record's secret-named fields are dropped, whoever logged it."""

    def filter(self, record: logging.LogRecord) -> bool:
        fields = getattr(record, "fields", None)
        if fields:
            record.fields = scrub(fields)
        return True


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        fields = getattr(record, "fields", {})
        data = {"ts": datetime.fromtimestamp(record.created, timezone.utc).isoformat(timespec="milliseconds"),
                "level": record.levelname.lower(), "event": record.getMessage(), **fields}
        if record.exc_info:
            data["error"] = self.formatException(record.exc_info).splitlines()[-1]
        return json.dumps(data, default=str, ensure_ascii=False)


def setup_logging(level: str = "INFO", fmt: str = "json", stream=None) -> None:
    """One sink for everything: stdlib logging, with Twisted's events forwarded to it."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
    handler.addFilter(SecretFilter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for noisy in ("alembic", "sqlalchemy"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    globalLogBeginner.beginLoggingTo([FilteringLogObserver(STDLibLogObserver(name="twisted"), [_not_port_chatter])],
                                     redirectStandardIO=False)


# Twisted logs every UDP port it opens and closes; TFTP opens one per transfer (T-2),
# so a 500-phone boot storm wrote 1,000 such lines, 11 % of serve's CPU in the storm
# (py-spy, bench/tftp_bootstorm.py, docs/benchmarks.md "Session 8: the TFTP boot storm").
_PORT_CHATTER = re.compile(r"^(\(UDP Port \d+ Closed\)|_TransferProtocol starting on \d+)$")


def _not_port_chatter(event: dict) -> PredicateResult:
    text = event.get("log_text")
    return PredicateResult.no if text is not None and _PORT_CHATTER.match(text) else PredicateResult.maybe


def scrub_query(uri: str) -> str:
    """A request URI fit for a log: every query value but the device name masked.

    Phones send the PIN and the authentication code as query parameters (the
    only way Cisco XML input reaches a server), so access logs never show values.
    """
    path, _, query = uri.partition("?")
    if not query:
        return path
    kept = []
    for pair in query.split("&"):
        key, _, value = pair.partition("=")
        kept.append(f"{key}={value}" if key == "name" and len(value) <= 20 else f"{key}=***")
    return path + "?" + "&".join(kept)


def log_event(event: str, level: int = logging.INFO, **fields) -> None:
    logger.log(level, event, extra={"fields": scrub(fields)})


def request_id(incoming: str | None) -> str:
    """A request's id: the caller's ``X-Request-Id`` when it is a sane token (a load balancer's, so one
    request can be followed through both logs), else a new one."""
    if incoming and _REQUEST_ID.match(incoming):
        return incoming
    return uuid.uuid4().hex


def log_request(request, client_gone: bool = False) -> None:
    """The access log: one event per HTTP request, query values scrubbed; ``pid``
    tells the web processes apart (``web.processes``); ``request_id`` and ``ms`` when the
    request came through ``phoneservice.processes.access.ObservedRequest``, which also
    logs a request whose connection ended before it was finished (``client_gone``)."""
    started = getattr(request, "started", None)
    extra = {"client_gone": True} if client_gone else {}
    log_event("http_request", pid=os.getpid(), peer=getattr(request.getClientAddress(), "host", ""),
              method=request.method.decode("ascii", "replace"),
              uri=scrub_query(request.uri.decode("ascii", "replace")),
              status=request.code if request.startedWriting or not client_gone else None, bytes=request.sentLength,
              request_id=getattr(request, "request_id", None),
              ms=round((time.monotonic() - started) * 1000, 1) if started is not None else None, **extra)


class Metrics:
    """Every metric of one server, in its own registry (tests build several).

    With several web processes (``phoneservice.processes.webprocs``) the values live in
    prometheus_client's shared files, which hold numbers, not functions: a
    gauge computed on scrape (``live``) is then set once a second instead."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.config_requests = Counter("pm_config_requests", "Config file requests", ["transport", "kind", "result"], registry=r)
        self.tftp_transfers = Counter("pm_tftp_transfers", "TFTP transfers by outcome", ["outcome"], registry=r)
        self.tftp_retransmits = Counter("pm_tftp_retransmits", "TFTP packets sent again", registry=r)
        self.tftp_active = Gauge("pm_tftp_active_transfers", "TFTP transfers in flight", registry=r,
                                 multiprocess_mode="livesum")
        self.autoreg = Counter("pm_auto_registrations", "Auto-registration attempts", ["result"], registry=r)
        self.peer_requests = Counter("pm_tftp_peer_requests", "T-6: files asked of peer servers",
                                     ["peer", "result"], registry=r)
        self.proxy_answers = Counter("pm_tftp_proxy_answers", "T-6: unknown phones' files, by answer",
                                     ["result"], registry=r)
        self.migrations = Counter("pm_migrations", "Migrations by door and outcome", ["door", "outcome"], registry=r)
        self.auth_failures = Counter("pm_auth_failures", "Failed PIN or code entries", ["door"], registry=r)
        self.calls_active = Gauge("pm_ivr_calls_active", "IVR calls in progress", registry=r,
                                  multiprocess_mode="livesum")
        self.render_seconds = Histogram("pm_config_render_seconds", "Time to render a config file", registry=r)
        # HTTP by the route's rule (``/api/v1/devices/<name>``), never by the raw path: a bounded set of series
        self.http_requests = Counter("pm_http_requests", "HTTP requests by method, route rule and status",
                                     ["method", "route", "status"], registry=r)
        self.http_seconds = Histogram("pm_http_request_seconds", "HTTP request time in the app, by route rule",
                                      ["method", "route"], registry=r)
        self.build_info = Gauge("pm_build_info", "This server's version and Python", ["version", "python"], registry=r,
                                multiprocess_mode="max")
        self.build_info.labels(build_version(), platform.python_version()).set(1)
        # {process name: pid} of this server's processes, for pm_process_* (the composition root sets it)
        self.processes: Callable[[], dict[str, int]] = lambda: {"main": os.getpid()}
        r.register(ProcessesCollector(lambda: self.processes()))
        self._live: list[tuple[Gauge, object]] = []

    def live(self, gauge: Gauge, compute) -> None:
        """A gauge whose value ``compute()`` gives: on scrape, or once a second with shared metrics."""
        if shared_metrics_dir() is not None:
            self._live.append((gauge, compute))
            gauge.set(compute())
        else:
            gauge.set_function(compute)

    def start_live_updates(self, every: float) -> None:
        def update() -> None:
            for gauge, compute in self._live:
                gauge.set(compute())

        task.LoopingCall(update).start(every)


# --- several processes: shared metrics and the main process's state ------------------
def start_shared_metrics() -> Path:
    """Multiprocess metrics for this run; before any metric is built (the main process)."""
    directory = Path(tempfile.mkdtemp(prefix="phone-migration-metrics-"))
    os.environ[METRICS_ENV] = str(directory)
    # prometheus_client picks its value class when imported, from this variable;
    # the main process imported it long before reading its config.
    values.ValueClass = values.get_value_class()
    return directory


def shared_metrics_dir() -> Path | None:
    value = os.environ.get(METRICS_ENV)
    return Path(value) if value else None


def exposition(registry) -> bytes:
    """``/metrics``: every process's counters when several serve the web port, and every process's
    ``pm_process_*`` (the main process lists them in ``processes.json``)."""
    if shared_metrics_dir() is None:
        return generate_latest(registry)
    merged = CollectorRegistry()
    multiprocess.MultiProcessCollector(merged)
    merged.register(ProcessesCollector(read_processes))
    return generate_latest(merged)


def build_version() -> str:
    try:
        return metadata.version("phone-migration")
    except metadata.PackageNotFoundError:  # run from a source tree that was never installed
        return "unknown"


class ProcessesCollector:
    """``pm_process_*`` (CPU seconds, memory, open files, start time) of each named process, read from
    ``/proc`` by prometheus_client's own ``ProcessCollector``, labelled ``process``: the main process, the
    web workers and the IVR workers, whichever process answers ``/metrics``."""

    def __init__(self, processes: Callable[[], dict[str, int]]) -> None:
        self.processes = processes

    def collect(self):
        families: dict[str, Metric] = {}
        for name, pid in sorted(self.processes().items()):
            for family in ProcessCollector(namespace="pm", pid=lambda pid=pid: pid, registry=None).collect():
                merged = families.setdefault(family.name, Metric(family.name, family.documentation, family.type))
                for sample in family.samples:
                    merged.add_sample(sample.name, {**sample.labels, "process": name}, sample.value)
        return list(families.values())


def write_processes(directory: Path, processes: dict[str, int]) -> None:
    _write_json(directory, PROCESSES_FILE, processes)


def read_processes() -> dict[str, int]:
    directory = shared_metrics_dir()
    try:
        found = json.loads((directory / PROCESSES_FILE).read_text()) if directory else {}
    except (OSError, ValueError):
        return {"this": os.getpid()}
    return found if os.getpid() in found.values() else {**found, "this": os.getpid()}


def process_dead(pid: int) -> None:
    if shared_metrics_dir() is not None:
        multiprocess.mark_process_dead(pid)


def write_status(directory: Path, status: dict) -> None:
    """The main process's IVR and cache state for the web workers' ``/healthz``.
    Atomically: a worker never reads half a file."""
    _write_json(directory, STATUS_FILE, status)


def _write_json(directory: Path, name: str, data: dict) -> None:
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=".status-")
    with os.fdopen(fd, "w") as out:
        json.dump(data, out)
    os.replace(tmp, directory / name)


def read_status() -> dict | None:
    directory = shared_metrics_dir()
    try:
        return json.loads((directory / STATUS_FILE).read_text()) if directory else None
    except (OSError, ValueError):
        return None
