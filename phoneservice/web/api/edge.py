"""The REST API's edge: who may call, what is there, and every error as problem+json.

Every request but ``GET /api/v1/openapi.json`` carries ``Authorization: Bearer
pm_...`` (``models.services.admins``): scope ``read`` for GET and HEAD, ``write`` for the
rest. The API never looks at cookies, so a browser's admin session can't drive
it (and it needs no CSRF token: the admin UI's CSRF check skips blueprint ``api``).
Every error is ``application/problem+json`` (RFC 9457) with the refusal's ``code``.

Here: the bearer-token check, ``/openapi.json`` (built from the routes by
``openapi``), OPTIONS and the 404/405 answers for unknown paths and methods,
and the error handlers; the routes are in the resource modules beside it.
"""

from __future__ import annotations

from flask import Response, current_app, g, request
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm.exc import StaleDataError
from werkzeug.exceptions import HTTPException
from werkzeug.routing import RoutingException

from models.rules.clock import utcnow
from models.rules.refusals import Refused
from phoneservice.observe import log_event, logger
from phoneservice.web.api.common import (
    ApiProblem,
    blueprint,
    check_text,
    no_content,
    operation,
    problem,
    refusal_problem,
    text_ok,
)
from phoneservice.web.api.openapi import openapi_document
from phoneservice.web.services import services

READ_METHODS = {"GET", "HEAD", "OPTIONS"}
REALM = 'Bearer realm="phone-migration"'
METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")
OPEN = {"api.openapi"}


def _bearer() -> str | None:
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    return (token.strip() or None) if scheme.lower() == "bearer" else None


@blueprint.before_request
def authenticate():
    if request.endpoint in OPEN:
        return _options() if request.method == "OPTIONS" else None
    token = _bearer()
    if token is None:
        raise ApiProblem(401, "unauthenticated", "send an API token: Authorization: Bearer pm_...",
                         headers={"WWW-Authenticate": REALM})
    scopes = services().tokens.scopes(token, utcnow())
    if scopes is None:
        raise ApiProblem(401, "invalid_token", "the API token is unknown or revoked",
                         headers={"WWW-Authenticate": f'{REALM}, error="invalid_token"'})
    needed = "read" if request.method in READ_METHODS else "write"
    if needed not in scopes:
        raise ApiProblem(403, "insufficient_scope", f"this request needs an API token with the {needed} scope",
                         headers={"WWW-Authenticate": f'{REALM}, error="insufficient_scope", scope="{needed}"'})
    g.api_token = token
    for name, value in (request.view_args or {}).items():
        if isinstance(value, str) and not text_ok(value):
            raise ApiProblem(404, "not_found", f"no such resource: {request.path}")  # no {name} holds these
    for name, value in request.args.items(multi=True):
        check_text(value, name)
    if request.method == "OPTIONS":
        return _options()
    return None


@blueprint.after_request
def _not_cached(response: Response) -> Response:
    """Answers hold site data for one token's holder: no shared cache keeps them."""
    response.headers.setdefault("Cache-Control", "no-store")
    return response


@blueprint.get("/openapi.json")
@operation("This document", tag="meta", public=True,
           responses={200: ("application/json", {"type": "object", "required": ["openapi", "paths"]})})
def openapi():
    return openapi_document(current_app)


def _allowed(path: str) -> list[str]:
    """The methods the API's routes take on ``path`` (the catch-all below excluded)."""
    adapter = current_app.url_map.bind_to_environ(request.environ)
    allowed = []
    for method in METHODS:
        try:
            endpoint, _ = adapter.match(path, method=method)
        except (HTTPException, RoutingException):
            continue
        if endpoint != "api.not_found":
            allowed.append(method)
    if "GET" in allowed:
        allowed.insert(allowed.index("GET") + 1, "HEAD")
    return allowed


def _options() -> Response:
    allowed = _allowed(request.path)
    if not allowed:
        raise ApiProblem(404, "not_found", f"no such resource: {request.path}")
    return no_content({"Allow": ", ".join([*allowed, "OPTIONS"])})


@blueprint.route("/", defaults={"rest": ""}, methods=[*METHODS, "TRACE"])
@blueprint.route("/<path:rest>", methods=[*METHODS, "TRACE"])
def not_found(rest: str):
    """Unknown paths and methods under /api/v1 get a problem too (404, or 405 with Allow)."""
    allowed = _allowed(request.path)
    if allowed:
        raise ApiProblem(405, "method_not_allowed", f"{request.method} is not allowed here",
                         headers={"Allow": ", ".join([*allowed, "OPTIONS"])})
    raise ApiProblem(404, "not_found", f"no such resource: {request.path}")


# --- errors: always problem+json ---------------------------------------------


@blueprint.errorhandler(ApiProblem)
def _api_problem(exc: ApiProblem):
    return problem(exc.status, exc.code, exc.detail, errors=exc.errors, headers=exc.headers)


@blueprint.errorhandler(Refused)
def _refused(refusal: Refused):
    return refusal_problem(refusal)


@blueprint.errorhandler(HTTPException)
def _http(exc: HTTPException):
    code = (exc.name or "error").lower().replace(" ", "_")
    return problem(exc.code or 500, code, exc.description or exc.name)


@blueprint.errorhandler(IntegrityError)
@blueprint.errorhandler(StaleDataError)
def _conflict(exc: Exception):
    # Two requests changed the same thing at the same moment (a unique key, a row just deleted).
    log_event("api_conflict", path=request.path, error=type(getattr(exc, "orig", exc)).__name__)
    return problem(409, "conflict", "that conflicts with a change made at the same moment; reload and try again")


@blueprint.errorhandler(OperationalError)
def _busy(exc: OperationalError):
    # Locks held too long, a lost connection: the database's trouble, not the request's.
    log_event("api_database_unavailable", path=request.path, error=type(exc.orig).__name__)
    return problem(503, "busy", "the database is busy or unreachable; try again in a moment",
                   headers={"Retry-After": "1"})


@blueprint.errorhandler(Exception)
def _unexpected(exc: Exception):
    logger.error("api_error", exc_info=exc, extra={"fields": {"path": request.path, "method": request.method}})
    return problem(500, "internal_error", "something went wrong on our side; it has been logged")
