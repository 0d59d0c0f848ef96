"""The REST API's edge, shared by its route modules: the ``api`` blueprint, problem
details (RFC 9457), JSON bodies, pages, and the OpenAPI notes each view carries.

Views only translate: a validated body in, one ``models`` call, JSON out. A
``Refused`` from the models becomes a problem with its ``code``; the status
comes from ``refusal_status`` (the mapping is documented in the OpenAPI text).
"""

from __future__ import annotations

import json
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Callable, Iterator, TypeVar
from urllib.parse import urlencode

from flask import Blueprint, Response, request
from pydantic import BaseModel, ValidationError
from werkzeug.http import HTTP_STATUS_CODES

from models.rules.refusals import Kind, Refused
from models.storage.queries import ROW_ID_MAX

blueprint = Blueprint("api", __name__, url_prefix="/api/v1")

PROBLEM = "application/problem+json"
MAX_BODY = 1024 * 1024  # the API's bodies are small; the screens and files have their own limits
PAGE_DEFAULT, PAGE_MAX = 50, 200
OFFSET_MAX = ID_MAX = ROW_ID_MAX  # offsets and ids past any row the database can hold

PROBLEM_TYPE = "tag:phone-migration,2026:problem:"  # + code; not dereferenceable (RFC 9457 section 3.1.1)

T = TypeVar("T", bound=BaseModel)


class ApiProblem(Exception):
    """An HTTP problem a view or the edge raises; rendered by ``problem``."""

    def __init__(self, status: int, code: str, detail: str, *, errors: list[dict] | None = None,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(detail)
        self.status, self.code, self.detail = status, code, detail
        self.errors, self.headers = errors, headers or {}


def invalid(field_name: str, message: str, code: str = "invalid") -> ApiProblem:
    return ApiProblem(422, code, f"{field_name}: {message}", errors=[{"field": field_name, "message": message}])


def problem(status: int, code: str, detail: str, *, errors: list[dict] | None = None,
            headers: dict[str, str] | None = None) -> Response:
    body: dict[str, Any] = {
        "type": PROBLEM_TYPE + code, "title": HTTP_STATUS_CODES.get(status, "Error"), "status": status,
        "detail": detail, "code": code, "instance": request.path,
    }
    if errors:
        body["errors"] = errors
    response = Response(json.dumps(body), status=status, content_type=PROBLEM)
    response.headers.update(headers or {})
    return response


# A refusal's kind decides its status (models.rules.refusals); one about an input field is 422 whatever its kind.
KIND_STATUS = {Kind.NOT_FOUND: 404, Kind.INVALID: 422, Kind.CONFLICT: 409, Kind.CREDENTIAL: 409, Kind.LOCKED: 409}


def refusal_status(refusal: Refused) -> int:
    return 422 if refusal.field else KIND_STATUS[refusal.kind]


def refusal_problem(refusal: Refused) -> Response:
    field_name = refusal.field
    errors = [{"field": field_name, "message": refusal.message}] if field_name else None
    return problem(refusal_status(refusal), refusal.code, refusal.message, errors=errors)


@contextmanager
def about(**fields: str) -> Iterator[None]:
    """Refusals with these codes are about a body field (422 naming it), not the URL's resource."""
    try:
        yield
    except Refused as refusal:
        if refusal.code in fields and not refusal.field:
            refusal.field = fields[refusal.code]
        raise


# --- input ---------------------------------------------------------------------


def text_ok(text: str) -> bool:
    """XML 1.0 characters only: no NUL (PostgreSQL), no other control character, no lone surrogate."""
    return all(_xml_char(ord(c)) for c in text)


def _xml_char(o: int) -> bool:
    return o in (0x9, 0xA, 0xD) or 0x20 <= o <= 0xD7FF or 0xE000 <= o <= 0xFFFD or 0x10000 <= o <= 0x10FFFF


def check_text(value: Any, where: str) -> None:
    """Every string that may reach a config file or screen (XML 1.0) or the database."""
    if isinstance(value, str):
        if not text_ok(value):
            raise invalid(where, "control characters, NUL and unpaired surrogates are not allowed")
    elif isinstance(value, dict):
        for key, item in value.items():
            check_text(key, f"{where}.{key}" if where else str(key))
            check_text(item, f"{where}.{key}" if where else str(key))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            check_text(item, f"{where}.{i}")


def _no_constant(name: str):
    raise ValueError(f"{name} is not JSON")


def body(model: type[T]) -> T:
    """The request's JSON object validated by ``model``: 413, 415, 400 or 422 otherwise."""
    if (request.content_length or 0) > MAX_BODY:
        raise ApiProblem(413, "too_large", f"a request body is at most {MAX_BODY} bytes")
    if not (request.mimetype == "application/json" or request.mimetype.endswith("+json")):
        raise ApiProblem(415, "unsupported_media_type", "send the body as application/json",
                         headers={"Accept-Post": "application/json"})
    raw = request.get_data(cache=True)
    if len(raw) > MAX_BODY:
        raise ApiProblem(413, "too_large", f"a request body is at most {MAX_BODY} bytes")
    try:
        data = json.loads(raw or b"null", parse_constant=_no_constant)
    except (ValueError, RecursionError):
        raise ApiProblem(400, "bad_json", "the body is not valid JSON") from None
    if not isinstance(data, dict):
        raise invalid("body", "a JSON object is required")
    check_text(data, "")
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        errors = [{"field": ".".join(str(p) for p in e["loc"]) or "body", "message": e["msg"]} for e in exc.errors()]
        first = errors[0]
        raise ApiProblem(422, "invalid", f"{first['field']}: {first['message']}", errors=errors) from None


def int_arg(name: str, default: int, low: int, high: int) -> int:
    raw = request.args.get(name)
    if raw is None:
        return default
    if not (raw.isascii() and raw.isdigit() and len(raw) <= 12) or not low <= int(raw) <= high:
        raise invalid(name, f"a whole number from {low} to {high}")
    return int(raw)


def str_arg(name: str, max_length: int) -> str:
    value = request.args.get(name, "")
    if len(value) > max_length:
        raise invalid(name, f"at most {max_length} characters")
    return value


def bool_arg(name: str) -> bool | None:
    raw = request.args.get(name)
    if raw is None:
        return None
    if raw.lower() not in ("true", "false"):
        raise invalid(name, "true or false")
    return raw.lower() == "true"


def page_args() -> tuple[int, int]:
    return int_arg("limit", PAGE_DEFAULT, 1, PAGE_MAX), int_arg("offset", 0, 0, OFFSET_MAX)


def paged(items: list[Any], total: int, limit: int, offset: int) -> Response:
    """``{"items", "total", "limit", "offset", "next"}``; ``next`` keeps the query and moves the offset."""
    next_url = None
    if offset + limit < total:
        args = [(k, v) for k, v in request.args.items(multi=True) if k not in ("offset", "limit")]
        next_url = f"{request.path}?{urlencode(args + [('limit', limit), ('offset', offset + limit)])}"
    response = ok({"items": items, "total": total, "limit": limit, "offset": offset, "next": next_url})
    if next_url:
        response.headers["Link"] = f'<{next_url}>; rel="next"'
    return response


# --- output --------------------------------------------------------------------


def jsonable(value: Any) -> Any:
    """Models and datetimes -> JSON values; stored times are UTC (``models.rules.clock``), sent as RFC 3339."""
    if isinstance(value, BaseModel):
        return jsonable(value.model_dump())
    if isinstance(value, dict):
        return {k: jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, datetime):
        return (value if value.tzinfo else value.replace(tzinfo=timezone.utc)).isoformat()
    return value


def ok(value: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    response = Response(json.dumps(jsonable(value)), status=status, content_type="application/json")
    response.headers.update(headers or {})
    return response


def no_content(headers: dict[str, str] | None = None) -> Response:
    response = Response(status=204, headers=headers)
    del response.headers["Content-Type"]  # 204 has no body to describe
    return response


# --- the OpenAPI notes each view carries (read by ``phoneservice.web.api.openapi``) ---


@dataclass
class Operation:
    summary: str
    tag: str
    responses: dict[int, Any]  # status -> a pydantic model, (media type, JSON schema), or None for no body
    body: type[BaseModel] | tuple[str, dict] | None = None  # a JSON body's model, or (media type, JSON schema)
    query: list[dict] = field(default_factory=list)
    description: str = ""
    errors: tuple[int, ...] = ()  # problem statuses beyond those every operation may answer
    public: bool = False  # no token needed


def operation(summary: str, *, tag: str, responses: dict[int, Any], body: type[BaseModel] | tuple[str, dict] | None = None,
              query: list[dict] | None = None, description: str = "", errors: tuple[int, ...] = (),
              public: bool = False) -> Callable[[Callable], Callable]:
    """Attach what the OpenAPI document says about this view."""

    def wrap(view: Callable) -> Callable:
        view.api_operation = Operation(summary, tag, responses, body, query or [], description, errors, public)
        return view

    return wrap


def query_param(name: str, schema: dict, description: str) -> dict:
    return {"name": name, "in": "query", "required": False, "schema": schema, "description": description}


PAGE_QUERY = [
    query_param("limit", {"type": "integer", "minimum": 1, "maximum": PAGE_MAX, "default": PAGE_DEFAULT},
                "Items per page."),
    query_param("offset", {"type": "integer", "minimum": 0, "maximum": OFFSET_MAX, "default": 0},
                "Items to skip; follow `next` instead of computing it."),
]
