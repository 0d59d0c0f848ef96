"""``/healthz`` and ``/metrics`` (Prometheus text format).

``/healthz`` asks the database itself whether it answers (``Database.ping``):
the one view that reaches ``services().db``, because the engine is what it reports on.
"""

from __future__ import annotations

from flask import Blueprint, Response
from prometheus_client import CONTENT_TYPE_LATEST

from phoneservice.observe import exposition
from phoneservice.web.services import services

blueprint = Blueprint("health", __name__)


@blueprint.get("/healthz")
def healthz():
    svc = services()
    try:
        svc.db.ping()
    except Exception as exc:  # the database is what health means here
        return {"status": "error", "database": type(exc).__name__}, 503
    status = svc.status()
    if status["draining"]:
        return {"status": "draining", "ivr": status["ivr"], "process": svc.process}, 503
    return {"status": "ok", "database": svc.db.dialect, "config_cache": status["config_cache"],
            "ivr": status["ivr"], "process": svc.process}


@blueprint.get("/metrics")
def metrics():
    return Response(exposition(services().metrics.registry), mimetype=CONTENT_TYPE_LATEST)
