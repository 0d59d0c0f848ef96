"""What the registrar asks and tells the product (R-1..R-3): ``/callcontrol/...``.

kamailio.cfg (``phoneservice/callcontrol/kamailio.cfg.j2``) posts a form for
each REGISTER before saving it and after, and for each contact that expires.
Every request carries the shared token (``callcontrol.token``) in
``X-Phone-Migration-Token``; without a configured token the routes answer 404.
The views only translate: the form becomes a ``Register``
(``phoneservice.callcontrol.registers``) and ``models.services.registrations``
decides and stores.

- ``POST /callcontrol/register-check``: 200 ``{"device": name}`` (Kamailio saves
  the contact) or 403 ``{"refused": code, "message": ...}`` (Kamailio answers 403).
- ``POST /callcontrol/registration``: ``event`` = ``registered``,
  ``deregistered`` or ``expired``; 200 with what changed, 403 when the site
  refuses it now. A phone with a staged wave row (W-2; an auto-registered phone
  that fetched its file before the row was staged) applies its row when it
  registers, and is told to restart so that it fetches its new file.
"""

from __future__ import annotations

import hmac
import logging
from collections.abc import Callable

from flask import Blueprint, request

from models.rules import registration as rules
from models.rules.refusals import Refused
from models.services.registrations import Registrations
from models.services.waves import Waves
from phoneservice.callcontrol.registers import BadForm, from_form
from phoneservice.callcontrol.rpc import TOKEN_HEADER
from phoneservice.observe import log_event

EVENTS = ("registered", "deregistered", "expired")


def blueprint(registrations: Callable[[], Registrations], token: Callable[[], str | None],
              waves: Callable[[], Waves | None] = lambda: None,
              restart_soon: Callable[[str], bool] = lambda device: False) -> Blueprint:
    """The routes; ``registrations()``, ``token()`` and ``waves()`` are asked per request (the web app's
    services); ``restart_soon(device)`` sends C-14's NOTIFY without waiting for the phone."""
    door = Blueprint("callcontrol", __name__, url_prefix="/callcontrol")
    door.before_request(lambda: _authenticate(token()))
    door.register_error_handler(BadForm, _bad_form)
    door.add_url_rule("/register-check", view_func=lambda: register_check(registrations()), methods=["POST"],
                      endpoint="register_check")
    door.add_url_rule("/registration", view_func=lambda: registration(registrations(), waves(), restart_soon),
                      methods=["POST"],
                      endpoint="registration")
    return door


def _authenticate(token: str | None):
    if not token:
        return {"error": "no call control is configured ([callcontrol] token)"}, 404
    if not hmac.compare_digest(request.headers.get(TOKEN_HEADER, "").encode(), token.encode()):
        log_event("callcontrol_refused", logging.WARNING, peer=request.remote_addr, reason="no or wrong token")
        return {"error": "wrong token"}, 401
    return None


def _bad_form(error: BadForm):
    return {"error": str(error)}, 400


def _register():
    return from_form(request.form)


def register_check(regs: Registrations):
    """R-1, R-2: may Kamailio save this REGISTER?"""
    reg = _register()
    try:
        name = regs.check(reg)
    except Refused as refusal:
        log_event("register_refused", aor=reg.aor, source=reg.source, device=rules.device_of(reg),
                  refusal=refusal.code, reason=refusal.message)
        return {"refused": refusal.code, "message": refusal.message}, 403
    return {"device": name}


def registration(regs: Registrations, waves: Waves | None = None,
                 restart_soon: Callable[[str], bool] = lambda device: False):
    """R-3: what Kamailio saved, or removed; W-2: a registered phone's staged wave row applies."""
    event = request.form.get("event", "")
    if event not in EVENTS:
        raise BadForm(f"event: one of {', '.join(EVENTS)}")
    reg = _register()
    try:
        if event == "registered" and reg.expires > 0:
            done = regs.registered(reg)
            log_event("registered", device=done.device, aor=reg.aor, contact=reg.contact, transport=reg.transport,
                      source=reg.source, expires=reg.expires, confirmed=list(done.confirmed),
                      old_returned=list(done.old_returned))
            answer = {"device": done.device, "confirmed": list(done.confirmed), "old_returned": list(done.old_returned)}
            if waves is not None and waves.apply_on_contact(done.device):
                log_event("wave_row_applied", device=done.device, on="register")
                answer["wave_applied"] = True
                restart_soon(done.device)  # the phone fetches its new file
            return answer
        name = _device(regs, reg)
    except Refused as refusal:
        log_event("registration_refused", kind=event, aor=reg.aor, refusal=refusal.code, reason=refusal.message)
        return {"refused": refusal.code, "message": refusal.message}, 403
    reason = "expired" if event == "expired" else "deregistered"
    ended = regs.unregistered(name, reg.call_id, reason)
    log_event("unregistered", device=name, aor=reg.aor, reason=reason, ended=ended)
    return {"device": name, "ended": ended}


def _device(regs: Registrations, reg) -> str:
    """The device a de-registration or expiry is about: the one its REGISTER names (R-2), else
    the one the site gives that AOR now."""
    return rules.device_of(reg) or regs.check(reg)
