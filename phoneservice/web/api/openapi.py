"""``GET /api/v1/openapi.json``: the OpenAPI 3.1 document, built from the routes.

Each view carries an ``Operation`` (``common.operation``); the paths and
methods come from Flask's URL map and the JSON schemas from the pydantic and
SQLModel classes (``model_json_schema``), so the document can't drift from the
code: a route without an ``Operation`` fails the build.

Why not apiflask, flask-smorest or spectree (issue #14; docs/benchmarks.md,
session 7): flask-smorest takes marshmallow schemas only. apiflask 3.1.2 and
spectree 3.0.0 build OpenAPI 3.1 from pydantic v2 models, but read a body
whatever its media type (apiflask ``get_json(force=True)``; spectree
``get_json(silent=True) or {}``: tried, a PATCH with a text/plain body or
malformed JSON answered 200, an empty change) where this API answers 415 or
400, and answer errors in their own JSON unless hooked into problem+json; apiflask adds six dependencies and turns a
model whose schema fails into ``{"type": "object"}`` silently. What this
module adds (statuses from the refusal kinds, ``x-scope``, path bounds, no
``default: null`` on PATCH fields) would stay, so a port of the 28
operations would save well under its lines and change what
``tests/test_api_schemathesis.py`` checks.
"""

from __future__ import annotations

import re
from importlib.metadata import PackageNotFoundError, version
from typing import Any

from flask import Flask
from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from models.rules.refusals import CODES, Kind
from phoneservice.web.api.common import ID_MAX, KIND_STATUS, PROBLEM, blueprint
from phoneservice.web.api.schemas import Problem

REF = "#/components/schemas/{model}"
UNDOCUMENTED = {"api.not_found", "api.static"}
_ARG = re.compile(r"<(?:(?P<conv>\w+)(?:\((?P<args>[^)]*)\))?:)?(?P<name>\w+)>")
ERRORS = {
    400: "The body is not JSON",
    401: "No API token, or an unknown or revoked one",
    403: "The token lacks the scope (read for GET, write for the rest)",
    404: "No such resource",
    409: "Refused: the site's state forbids it (see `code`)",
    413: "The body is too large",
    415: "The body is not of the media type the operation takes (application/json unless it says otherwise)",
    422: "Invalid input: `errors` names the failing field",
    503: "The database is busy; retry after `Retry-After` seconds",
}


def _description() -> str:
    return (
        "Phone migration REST API (docs/architecture.md, \"Interfaces that face outward\").\n\n"
        "**Authentication**: `Authorization: Bearer pm_...` on every request but this document. "
        "Scope `read` for GET and HEAD, `write` for everything else (a token may hold both). Tokens: "
        "`phone-migration tokens create NAME --scope read --scope write`. Cookies are never accepted.\n\n"
        "**Errors** are `application/problem+json` (RFC 9457) with `type`, `title`, `status`, `detail`, "
        "`instance`, `code` (the refusal's code) and, for invalid input, `errors` (`field`, `message`).\n\n"
        "**Refusals -> status**: a refusal about a request field -> 422 naming it; otherwise by the code's kind: "
        + "; ".join(f"{kind.value} ({', '.join(sorted(c for c, spec in CODES.items() if spec.kind is kind))}) -> "
                    f"{KIND_STATUS[kind]}" for kind in Kind) + ".\n\n"
        "**Pages**: `limit` (1-200, default 50) and `offset`; the answer has `total` and `next` (null on the last "
        "page, also sent as a `Link: rel=\"next\"` header)."
    )


def _path(rule: str) -> tuple[str, list[dict]]:
    params = []
    for match in _ARG.finditer(rule):
        if match["conv"] == "int":
            schema: dict[str, Any] = {"type": "integer", "minimum": 0, "maximum": ID_MAX}
        else:
            schema = {"type": "string", "minLength": 1, "pattern": "^[^/]+$"}
        params.append({"name": match["name"], "in": "path", "required": True, "schema": schema})
    return _ARG.sub(lambda m: "{" + m["name"] + "}", rule.removeprefix(blueprint.url_prefix)), params


def _strip_null_defaults(schema: dict) -> None:
    """A PATCH field defaults to "not sent", which JSON Schema can't say: drop ``default: null``."""
    for prop in schema.get("properties", {}).values():
        if prop.get("default", 0) is None and "anyOf" not in prop:
            del prop["default"]


def build(app: Flask) -> dict[str, Any]:
    ops = []
    for rule in sorted(app.url_map.iter_rules(), key=lambda r: r.rule):
        if not rule.endpoint.startswith(blueprint.name + ".") or rule.endpoint in UNDOCUMENTED:
            continue
        op = getattr(app.view_functions[rule.endpoint], "api_operation", None)
        if op is None:
            raise RuntimeError(f"API route {rule.rule} has no OpenAPI operation")
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            ops.append((rule, method.lower(), op))

    models: list[tuple[type[BaseModel], str]] = [(Problem, "serialization")]
    for _, _, op in ops:
        if isinstance(op.body, type):
            models.append((op.body, "validation"))
        models += [(m, "serialization") for m in op.responses.values() if isinstance(m, type)]
    refs, defs = models_json_schema(list(dict.fromkeys(models)), ref_template=REF)
    schemas = defs.get("$defs", {})
    for schema in schemas.values():
        _strip_null_defaults(schema)
    problem = {PROBLEM: {"schema": refs[(Problem, "serialization")]}}

    paths: dict[str, dict] = {}
    for rule, method, op in ops:
        path, params = _path(rule.rule)
        responses: dict[str, Any] = {}
        for status, shape in op.responses.items():
            if shape is None:
                responses[str(status)] = {"description": "Done; no body"}
            elif isinstance(shape, tuple):
                responses[str(status)] = {"description": "OK", "content": {shape[0]: {"schema": shape[1]}}}
            else:
                summary = shape.__doc__.strip().splitlines()[0] if shape.__doc__ else "OK"
                responses[str(status)] = {"description": summary, "content": {
                    "application/json": {"schema": refs[(shape, "serialization")]}}}
        statuses = set(op.errors) if op.public else {401, 403, 503, *op.errors}
        if op.body is not None:
            statuses |= {400, 413, 415, 422}
        if op.query:
            statuses.add(422)
        if params:
            statuses.add(404)
        for status in sorted(statuses):
            responses[str(status)] = {"description": ERRORS[status], "content": problem}
        if "401" in responses:
            responses["401"]["headers"] = {"WWW-Authenticate": {"schema": {"type": "string"}, "required": True}}
        entry: dict[str, Any] = {
            "operationId": rule.endpoint.split(".", 1)[1], "summary": op.summary, "tags": [op.tag],
            "responses": responses,
        }
        if op.public:
            entry["security"] = []
        else:
            entry["x-scope"] = "read" if method == "get" else "write"
        if op.description:
            entry["description"] = op.description
        if params or op.query:
            entry["parameters"] = params + op.query
        if isinstance(op.body, tuple):  # (media type, JSON schema): a file, e.g. text/csv
            entry["requestBody"] = {"required": True, "content": {op.body[0]: {"schema": op.body[1]}}}
        elif op.body is not None:
            entry["requestBody"] = {"required": True, "content": {
                "application/json": {"schema": refs[(op.body, "validation")]}}}
        paths.setdefault(path, {})[method] = entry

    try:
        release = version("phone-migration")
    except PackageNotFoundError:
        release = "0"
    return {
        "openapi": "3.1.0",
        "info": {"title": "Phone migration", "version": release, "description": _description()},
        "servers": [{"url": blueprint.url_prefix}],
        "security": [{"bearer": []}],
        "tags": [{"name": t} for t in dict.fromkeys(op.tag for _, _, op in ops)],
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "pm_<43 characters>",
                                           "description": "An API token; scopes read and write"}},
        },
    }


def openapi_document(app: Flask) -> dict[str, Any]:
    """Built once per app (the routes don't change after start)."""
    if "phone_migration_openapi" not in app.extensions:
        app.extensions["phone_migration_openapi"] = build(app)
    return app.extensions["phone_migration_openapi"]
