"""Admin page: administrators and API tokens (E-1..E-3), and the read-only role's rule (E-2).

A password is taken once and never shown back; a new token is shown only in
the answer to the POST that made it. A read-only administrator sees every
page and changes nothing: every POST but logging out is refused here, before
any view runs.
"""

from __future__ import annotations

from flask import flash, redirect, request, url_for
from flask_login import current_user

from models.rules.refusals import Refused
from phoneservice.observe import log_event
from phoneservice.web.admin.blueprint import actor, blueprint, now, page
from phoneservice.web.services import services

READ_ONLY_MAY_POST = {"admin.login", "admin.logout"}


@blueprint.before_request
def _read_only_changes_nothing():
    """E-2: a read-only administrator's POST is refused, whatever the page."""
    if request.method != "POST" or request.endpoint in READ_ONLY_MAY_POST:
        return None
    if getattr(current_user, "role", "full") == "read_only":
        return page("message.html", 403, title="Read-only account",
                    message="Your administrator account is read-only: it can look but not change anything. "
                            "Ask an administrator with full rights.")
    return None


def _accounts_page(status: int = 200, **context):
    svc = services().administration
    return page("admins.html", status, admins=svc.accounts(now()), tokens=svc.tokens(),
                me=current_user.username, **context)


@blueprint.get("/admins")
def admins():
    return _accounts_page()


def _done(message: str, event: str, **fields):
    log_event(event, actor=actor(), **fields)
    flash(message)
    return redirect(url_for(".admins"))


@blueprint.post("/admins")
def add_admin():
    form = request.form
    username = form.get("username", "").strip()[:64]
    if form.get("password", "") != form.get("password_again", ""):
        return _accounts_page(422, error="The two passwords are not the same; type the password twice.")
    try:
        services().administration.add(username, form.get("password", ""), form.get("role", "full"), now())
    except Refused as refusal:
        return _accounts_page(422 if refusal.kind.value == "invalid" else 409, error=refusal.message + ".")
    return _done(f"Administrator {username} added.", "admin_added", admin=username)


def _act(fn, message: str, event: str, username: str):
    try:
        fn()
    except Refused as refusal:
        return _accounts_page(404 if refusal.kind.value == "not_found" else 409, error=refusal.message + ".")
    return _done(message, event, admin=username)


@blueprint.post("/admins/<username>/remove")
def remove_admin(username: str):
    return _act(lambda: services().administration.remove(username, acting=current_user.username),
                f"Administrator {username} removed.", "admin_removed", username)


@blueprint.post("/admins/<username>/role")
def set_admin_role(username: str):
    role = request.form.get("role", "")
    return _act(lambda: services().administration.set_role(username, role),
                f"{username} is now {role.replace('_', '-')}.", "admin_role", username)


@blueprint.post("/admins/<username>/unlock")
def unlock_admin(username: str):
    return _act(lambda: services().administration.unlock(username),
                f"Administrator {username} unlocked.", "admin_unlocked", username)


@blueprint.post("/admins/<username>/password")
def reset_admin_password(username: str):
    password = request.form.get("password", "")
    if password != request.form.get("password_again", ""):
        return _accounts_page(422, error="The two passwords are not the same; type the password twice.")
    try:
        services().administration.reset_password(username, password)
    except Refused as refusal:
        return _accounts_page(404 if refusal.kind.value == "not_found" else 422, error=refusal.message + ".")
    return _done(f"New password set for {username}.", "admin_password_reset", admin=username)


@blueprint.post("/tokens")
def create_token():
    name = request.form.get("name", "").strip()
    scopes = request.form.getlist("scope")
    try:
        token, view = services().administration.create_token(name, scopes)
    except Refused as refusal:
        return _accounts_page(422, token_error=refusal.message + ".")
    log_event("admin_token_created", actor=actor(), token_id=view.id)
    return _accounts_page(201, issued={"token": token, "view": view})


@blueprint.post("/tokens/<int:token_id>/revoke")
def revoke_token(token_id: int):
    return _act(lambda: services().administration.revoke_token(token_id),
                f"API token {token_id} revoked.", "admin_token_revoked", str(token_id))
