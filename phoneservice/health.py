"""``/healthz`` and ``/metrics`` (Prometheus text format)."""

from __future__ import annotations

from flask import Blueprint, Response, current_app
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import text

blueprint = Blueprint("health", __name__)


@blueprint.get("/healthz")
def healthz():
    services = current_app.extensions["phone_migration"]
    try:
        with services.db.read_session() as session:
            session.exec(text("SELECT 1"))
    except Exception as exc:  # the database is what health means here
        return {"status": "error", "database": type(exc).__name__}, 503
    ivr = services.ivr.health() if services.ivr is not None else {"status": "disabled", "up": 0, "workers": []}
    if services.draining:
        return {"status": "draining", "ivr": ivr}, 503
    return {"status": "ok", "database": services.db.dialect,
            "config_cache": "warm" if services.cache_warm else "warming", "ivr": ivr}


@blueprint.get("/metrics")
def metrics():
    services = current_app.extensions["phone_migration"]
    return Response(generate_latest(services.metrics.registry), mimetype=CONTENT_TYPE_LATEST)
