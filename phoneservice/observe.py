"""Structured logs (one JSON line per event) and Prometheus metrics.

``log_event`` is the only way the server logs an event. It drops any field
whose name says it holds a secret, so a PIN or code can't reach a log by
accident (A-6); callers never pass them in the first place.
"""

from __future__ import annotations

import json
import logging
import os
import sys
from datetime import datetime, timezone

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

SECRET_FIELDS = {"pin", "code", "secret", "password", "auth_code", "authcode", "token"}
logger = logging.getLogger("phone_migration")


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
    from twisted.logger import STDLibLogObserver, globalLogBeginner

    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for noisy in ("alembic", "sqlalchemy"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    globalLogBeginner.beginLoggingTo([STDLibLogObserver(name="twisted")], redirectStandardIO=False)


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
    clean = {k: v for k, v in fields.items() if k.lower() not in SECRET_FIELDS}
    logger.log(level, event, extra={"fields": clean})


def log_request(request) -> None:
    """The access log: one event per HTTP request, query values scrubbed; ``pid``
    tells the web processes apart (``web.processes``)."""
    log_event("http_request", pid=os.getpid(), peer=getattr(request.getClientAddress(), "host", ""),
              method=request.method.decode("ascii", "replace"),
              uri=scrub_query(request.uri.decode("ascii", "replace")), status=request.code, bytes=request.sentLength)


class Metrics:
    """Every metric of one server, in its own registry (tests build several).

    With several web processes (``phoneservice.webprocs``) the values live in
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
        self.migrations = Counter("pm_migrations", "Migrations by door and outcome", ["door", "outcome"], registry=r)
        self.auth_failures = Counter("pm_auth_failures", "Failed PIN or code entries", ["door"], registry=r)
        self.calls_active = Gauge("pm_ivr_calls_active", "IVR calls in progress", registry=r,
                                  multiprocess_mode="livesum")
        self.render_seconds = Histogram("pm_config_render_seconds", "Time to render a config file", registry=r)
        self._live: list[tuple[Gauge, object]] = []

    def live(self, gauge: Gauge, compute) -> None:
        """A gauge whose value ``compute()`` gives: on scrape, or once a second with shared metrics."""
        from phoneservice.processes.webprocs import shared_metrics_dir

        if shared_metrics_dir() is not None:
            self._live.append((gauge, compute))
            gauge.set(compute())
        else:
            gauge.set_function(compute)

    def start_live_updates(self, every: float) -> None:
        from twisted.internet import task

        def update() -> None:
            for gauge, compute in self._live:
                gauge.set(compute())

        task.LoopingCall(update).start(every)
