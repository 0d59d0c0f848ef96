"""``/healthz`` and ``/metrics`` (Prometheus text format)."""

from __future__ import annotations

from flask import Blueprint, Response, current_app
from prometheus_client import CONTENT_TYPE_LATEST
from sqlalchemy import text

from phoneservice.processes.webprocs import exposition

blueprint = Blueprint("health", __name__)


@blueprint.get("/healthz")
def healthz():
    services = current_app.extensions["phone_migration"]
    try:
        with services.db.read_session() as session:
            session.exec(text("SELECT 1"))
    except Exception as exc:  # the database is what health means here
        return {"status": "error", "database": type(exc).__name__}, 503
    status = services.status()
    if status["draining"]:
        return {"status": "draining", "ivr": status["ivr"], "process": services.process}, 503
    return {"status": "ok", "database": services.db.dialect, "config_cache": status["config_cache"],
            "ivr": status["ivr"], "process": services.process}


@blueprint.get("/metrics")
def metrics():
    services = current_app.extensions["phone_migration"]
    return Response(exposition(services.metrics.registry), mimetype=CONTENT_TYPE_LATEST)
