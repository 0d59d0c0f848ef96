"""Admin pages: users (set PIN, unlock, profile) and activation codes (M-5).

A PIN or code is taken once and never shown back or logged (A-6); a new
activation code is shown only in the answer to the POST that issued it.
"""

from __future__ import annotations

from flask import flash, redirect, request, url_for

from models.rules.refusals import Kind, Refused
from phoneservice.observe import log_event
from phoneservice.web.admin.blueprint import actor, blueprint, now, page, refused_page
from phoneservice.web.services import services


@blueprint.get("/users")
def users():
    search = request.args.get("q", "")[:100]
    rows = services().directory.search(search, now=now())
    return page("users.html", rows=rows, q=search)


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
