"""Structured logs (one JSON line per event) and Prometheus metrics.

``log_event`` is the only way the server logs an event. It drops any field
whose name says it holds a secret, so a PIN or code can't reach a log by
accident (A-6); callers never pass them in the first place.
"""

from __future__ import annotations

import json
import logging
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
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else logging.Formatter("%(asctime)s %(levelname)s %(message)s %(fields)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())


def log_event(event: str, level: int = logging.INFO, **fields) -> None:
    clean = {k: v for k, v in fields.items() if k.lower() not in SECRET_FIELDS}
    logger.log(level, event, extra={"fields": clean})


class Metrics:
    """Every metric of one server, in its own registry (tests build several)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.config_requests = Counter("pm_config_requests", "Config file requests", ["transport", "kind", "result"], registry=r)
        self.tftp_transfers = Counter("pm_tftp_transfers", "TFTP transfers by outcome", ["outcome"], registry=r)
        self.tftp_retransmits = Counter("pm_tftp_retransmits", "TFTP packets sent again", registry=r)
        self.tftp_active = Gauge("pm_tftp_active_transfers", "TFTP transfers in flight", registry=r)
        self.autoreg = Counter("pm_auto_registrations", "Auto-registration attempts", ["result"], registry=r)
        self.migrations = Counter("pm_migrations", "Migrations by door and outcome", ["door", "outcome"], registry=r)
        self.auth_failures = Counter("pm_auth_failures", "Failed PIN or code entries", ["door"], registry=r)
        self.calls_active = Gauge("pm_ivr_calls_active", "IVR calls in progress", registry=r)
        self.render_seconds = Histogram("pm_config_render_seconds", "Time to render a config file", registry=r)
