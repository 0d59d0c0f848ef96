"""Admin page: security profiles, C-3's four inputs (mode, TFTP-encrypted config, transport,
key order) and the universal profile each maps to; the same service as the API and the CLI."""

from __future__ import annotations

from flask import flash, redirect, request, url_for

from models.rules.refusals import Refused
from models.tables.templates import KEY_ORDERS, SECURITY_MODES, TRANSPORTS
from phoneservice.observe import log_event
from phoneservice.web.admin.blueprint import actor, blueprint, page
from phoneservice.web.services import services


def _page(status: int = 200, **context):
    return page("security_profiles.html", status, profiles=services().security_profiles.list(), tab="security",
                modes=SECURITY_MODES, transports=TRANSPORTS, key_orders=KEY_ORDERS, **context)


@blueprint.get("/security-profiles")
def security_profiles():
    return _page()


@blueprint.post("/security-profiles")
def save_security_profile():
    form = request.form
    name = form.get("name", "").strip()[:200]
    try:
        services().security_profiles.set(name, mode=form.get("mode", ""), tftp_encrypted=form.get("tftp_encrypted") == "on",
                                         transport=form.get("transport", ""), key_order=form.get("key_order", ""))
    except Refused as refusal:
        return _page(422, error=refusal.message + ".", f=form)
    log_event("admin_security_profile_set", profile=name, actor=actor())
    flash(f"Security profile {name} saved.")
    return redirect(url_for(".security_profiles"))
