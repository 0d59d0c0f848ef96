"""``/api/v1/admins`` and ``/api/v1/tokens``: administrator accounts (E-1, E-2) and API tokens (E-3).

A read token sees them; a write token changes them (the edge's scopes). A
password goes in and never comes back; a token is in the answer that makes it,
and only there.
"""

from __future__ import annotations

from typing import Literal

from flask import url_for
from pydantic import BaseModel, ConfigDict, Field

from models.rules.clock import utcnow
from models.services.admin_accounts import AdminView, TokenView
from phoneservice.observe import log_event
from phoneservice.web.api.common import (
    PAGE_QUERY,
    about,
    blueprint,
    body,
    no_content,
    ok,
    operation,
    page_args,
    paged,
)
from phoneservice.web.api.schemas import Page
from phoneservice.web.services import services

Role = Literal["full", "read_only"]
Scope = Literal["read", "write"]
USERNAME = r"^[^\x00-\x1f\x7f]{1,64}$"


class AdminPublic(BaseModel):
    username: str
    role: Role = Field(description="full: every change; read_only: looks, changes nothing (E-2)")
    created_at: str
    locked: bool = Field(description="Blocked after five failed logins (A-4) until unlocked or 15 minutes pass")


class AdminCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    username: str = Field(min_length=1, max_length=64, pattern=USERNAME)
    password: str = Field(min_length=10, max_length=256)
    role: Role = "full"


class AdminUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    role: Role


class PasswordPut(BaseModel):
    model_config = ConfigDict(extra="forbid")
    password: str = Field(min_length=10, max_length=256)


class TokenPublic(BaseModel):
    id: int
    name: str
    scopes: list[Scope]
    created_at: str
    last_used_at: str | None
    revoked: bool


class TokenCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=64, pattern=USERNAME)
    scopes: list[Scope] = Field(min_length=1, max_length=2)


class TokenCreated(TokenPublic):
    token: str = Field(description="The token itself: shown in this answer only, stored hashed")


def _admin(view: AdminView) -> dict:
    return {"username": view.username, "role": view.role, "created_at": view.created_at, "locked": view.locked}


def _token(view: TokenView) -> dict:
    return {"id": view.id, "name": view.name, "scopes": view.scopes, "created_at": view.created_at,
            "last_used_at": view.last_used_at, "revoked": view.revoked}


@blueprint.get("/admins")
@operation("Administrators", tag="administrators", query=PAGE_QUERY, responses={200: Page[AdminPublic]})
def list_admins():
    limit, offset = page_args()
    items = [_admin(a) for a in services().administration.accounts(utcnow())]
    return paged(items[offset:offset + limit], len(items), limit, offset)


@blueprint.post("/admins")
@operation("Add an administrator", tag="administrators", body=AdminCreate, responses={201: AdminPublic},
           errors=(409,))
def create_admin():
    data = body(AdminCreate)
    with about(weak_password="password", bad_username="username"):
        view = services().administration.add(data.username, data.password, data.role, utcnow())
    log_event("api_admin_added", admin=view.username, role=view.role)
    return ok(_admin(view), 201, {"Location": url_for(".list_admins")})


@blueprint.patch("/admins/<username>")
@operation("Change an administrator's role (E-2)", tag="administrators", body=AdminUpdate,
           responses={200: AdminPublic}, errors=(404, 409),
           description="The last administrator with full rights keeps them (`last_full_admin`).")
def update_admin(username: str):
    data = body(AdminUpdate)
    view = services().administration.set_role(username, data.role)
    log_event("api_admin_role", admin=username, role=data.role)
    return ok(_admin(view))


@blueprint.delete("/admins/<username>")
@operation("Remove an administrator", tag="administrators", responses={204: None}, errors=(404, 409),
           description="The last administrator with full rights can't be removed (`last_full_admin`).")
def delete_admin(username: str):
    services().administration.remove(username)
    log_event("api_admin_removed", admin=username)
    return no_content()


@blueprint.put("/admins/<username>/password")
@operation("Reset an administrator's password", tag="administrators", body=PasswordPut, responses={204: None},
           errors=(404,), description="At least 10 characters; stored hashed, never returned. Clears a login block.")
def put_admin_password(username: str):
    data = body(PasswordPut)
    with about(weak_password="password"):
        services().administration.reset_password(username, data.password)
    log_event("api_admin_password_reset", admin=username)
    return no_content()


@blueprint.post("/admins/<username>/unlock")
@operation("Unlock an administrator", tag="administrators", responses={204: None}, errors=(404,),
           description="Clears the failed-login count and the 15-minute block (A-4).")
def unlock_admin(username: str):
    services().administration.unlock(username)
    log_event("api_admin_unlocked", admin=username)
    return no_content()


@blueprint.get("/tokens")
@operation("API tokens", tag="administrators", query=PAGE_QUERY, responses={200: Page[TokenPublic]},
           description="Never the tokens themselves: they are stored hashed.")
def list_tokens():
    limit, offset = page_args()
    items = [_token(t) for t in services().administration.tokens()]
    return paged(items[offset:offset + limit], len(items), limit, offset)


@blueprint.post("/tokens")
@operation("Create an API token (E-3)", tag="administrators", body=TokenCreate, responses={201: TokenCreated})
def create_token():
    data = body(TokenCreate)
    token, view = services().administration.create_token(data.name, list(data.scopes))
    log_event("api_token_created", token_id=view.id, scopes=",".join(view.scopes))
    return ok({**_token(view), "token": token}, 201, {"Location": url_for(".list_tokens")})


@blueprint.delete("/tokens/<int:token_id>")
@operation("Revoke an API token (E-3)", tag="administrators", responses={204: None}, errors=(404,))
def revoke_token(token_id: int):
    services().administration.revoke_token(token_id)
    log_event("api_token_revoked", token_id=token_id)
    return no_content()
