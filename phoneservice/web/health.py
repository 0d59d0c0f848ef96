"""``/healthz`` and ``/metrics`` (Prometheus text format).

``/healthz`` asks the database itself whether it answers (``Database.ping``):
the one view that reaches ``services().db``, because the engine is what it reports on.
It answers 503 whenever a load balancer or an orchestrator should act (R-8):
the database does not answer, the server drains, or the IVR runs no worker
(``degraded``: a worker is dead or still starting, and no call can be taken).
``ivr.sip_front`` says whether Kamailio stands between the workers and the
network (R-7): ``unprotected`` when no registrar is configured; ``ivr.kamailio``
is that Kamailio's state when ``serve --kamailio`` runs it.
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
    body = {"status": "ok", "database": svc.db.dialect, "config_cache": status["config_cache"],
            "ivr": status["ivr"], "process": svc.process}
    if no_ivr_worker(status["ivr"]):
        return {**body, "status": "degraded"}, 503
    return body


def no_ivr_worker(ivr: dict) -> bool:
    """R-8: the IVR is configured here and not one of its workers is up, or the Kamailio this process
    runs in front of them (serve --kamailio) is down, so no call reaches them."""
    return ivr.get("status") == "down" or ivr.get("kamailio", {}).get("status") == "down"


@blueprint.get("/metrics")
def metrics():
    return Response(exposition(services().metrics.registry), mimetype=CONTENT_TYPE_LATEST)
