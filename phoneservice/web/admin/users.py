"""Admin pages: users (add, set PIN, unlock, profile) and activation codes (M-5).

A PIN or code is taken once and never shown back or logged (A-6); a new
activation code is shown only in the answer to the POST that issued it.
"""

from __future__ import annotations

from flask import flash, redirect, request, url_for

from models.rules.refusals import Kind, Refused
from models.tables.users import EndUserCreate
from phoneservice.observe import log_event
from phoneservice.web.admin.blueprint import actor, blueprint, now, page, refused_page
from phoneservice.web.services import services


@blueprint.get("/users")
def users():
    search = request.args.get("q", "")[:100]
    rows = services().directory.search(search, now=now())
    return page("users.html", rows=rows, q=search)


def _add_page(status: int = 200, **context):
    return page("user_new.html", status, extensions=services().directory.extensions(), **context)


@blueprint.get("/new-user")  # not under /users/: any user ID, "new" too, has its page there
def new_user():
    return _add_page()


# The add form's input each refusal is about (the service's own field when it names one).
_ADD_FIELDS = {"user_exists": "user_id", "extension_in_use": "primary_extension"}


@blueprint.post("/new-user")
def add_user():
    """A new end user through ``Directory.add`` (the API's POST /users): S-3 refuses an extension that is
    already another user's primary extension; the PIN is optional, checked and hashed there (A-4, A-6)."""
    f = {k: request.form.get(k, "").strip()[:200] for k in ("user_id", "first_name", "last_name", "primary_extension")}
    pin, again = request.form.get("pin", ""), request.form.get("pin_again", "")
    if pin != again:
        return _add_page(422, f=f, add_error="The two PINs are not the same; type the PIN twice.", invalid="pin")
    chosen = None
    if f["primary_extension"]:
        chosen = next((x for x in services().directory.extensions() if str(x.id) == f["primary_extension"]), None)
        if chosen is None:
            return _add_page(422, f=f, add_error="Choose the primary extension from the list.",
                               invalid="primary_extension")
    data = EndUserCreate(user_id=f["user_id"], first_name=f["first_name"], last_name=f["last_name"],
                         primary_extension=chosen.pattern if chosen else None,
                         partition=chosen.partition if chosen else None, pin=pin or None)
    try:
        user = services().directory.add(data, now())
    except Refused as refusal:
        return _add_page(409 if refusal.kind is Kind.CONFLICT else 422, f=f, add_error=refusal.message + ".",
                           invalid=_ADD_FIELDS.get(refusal.code, refusal.field))
    log_event("admin_user_added", user=user.user_id, actor=actor())
    flash(f"User {user.user_id} added{' with a PIN' if user.has_pin else ''}.")
    return redirect(url_for(".user", user_id=user.user_id))


def _user_page(user_id: str, status: int = 200, **context):
    try:
        details = services().directory.details(user_id, now())
    except Refused as refusal:
        return refused_page(refusal)
    return page("user.html", status, view=details.page, u=details.page.user, profiles=details.profiles,
                codes=details.codes, **context)


@blueprint.get("/users/<user_id>")
def user(user_id: str):
    return _user_page(user_id)


@blueprint.post("/users/<user_id>/pin")
def set_pin(user_id: str):
    pin, again = request.form.get("pin", ""), request.form.get("pin_again", "")
    if pin != again:
        return _user_page(user_id, 422, pin_error="The two PINs are not the same; type the new PIN twice.")
    try:
        services().directory.set_pin(user_id, pin)
    except Refused as refusal:
        if refusal.kind is Kind.NOT_FOUND:
            return refused_page(refusal)
        return _user_page(user_id, 422, pin_error=refusal.message + ".")
    log_event("admin_set_pin", user=user_id, actor=actor())
    flash(f"New PIN set for {user_id}.")
    return redirect(url_for(".user", user_id=user_id))


@blueprint.post("/users/<user_id>/unlock")
def unlock(user_id: str):
    try:
        services().directory.unlock(user_id, now())
    except Refused as refusal:
        return refused_page(refusal)
    log_event("admin_unlock", user=user_id, actor=actor())
    flash(f"{user_id} is unlocked: failed PIN attempts are cleared.")
    return redirect(url_for(".user", user_id=user_id))


@blueprint.post("/users/<user_id>/profile")
def user_profile(user_id: str):
    try:
        services().directory.set_profile(user_id, request.form.get("profile", "") or None)
    except Refused as refusal:
        if refusal.kind is Kind.NOT_FOUND:
            return refused_page(refusal)
        return _user_page(user_id, 422, profile_error=refusal.message)
    flash(f"User profile of {user_id} saved.")
    return redirect(url_for(".user", user_id=user_id))


# --- activation codes (M-5) ----------------------------------------------------------


def _codes_page(status: int = 200, **context):
    svc = services()
    codes = svc.activation.codes(now())
    user_ids = [u.user_id for u in svc.directory.search(now=now(), limit=1000)]
    models = [m for m in sorted(svc.catalog.models(), key=lambda m: m.key) if m.screens_supported and not m.jabber]
    return page("activation.html", status, codes=codes, user_ids=user_ids, models=models, **context)


@blueprint.get("/activation-codes")
def activation_codes():
    return _codes_page()


@blueprint.post("/activation-codes")
def issue_code():
    user_id, model = request.form.get("user", "").strip(), request.form.get("model", "").strip()
    days = request.form.get("days", "7").strip()
    if not days.isdigit() or not 1 <= int(days) <= 365:
        return _codes_page(422, error='"days": a whole number of days from 1 to 365', f=request.form)
    try:
        code, row = services().activation.issue(user_id, model, now(), days=int(days))
    except Refused as refusal:
        return _codes_page(422, error=refusal.message, f=request.form)
    log_event("activation_code_issued", user=user_id, model=row.model, id=row.id, actor=actor())
    grouped = "-".join(code[i:i + 4] for i in range(0, len(code), 4))
    return _codes_page(issued={"code": grouped, "user": user_id, "model": row.model, "expires_at": row.expires_at})


@blueprint.post("/activation-codes/<int:code_id>/revoke")
def revoke_code(code_id: int):
    try:
        services().activation.revoke(code_id)
    except Refused as refusal:
        return refused_page(refusal)
    log_event("activation_code_revoked", id=code_id, actor=actor())
    flash(f"Activation code {code_id} revoked.")
    return redirect(url_for(".activation_codes"))
