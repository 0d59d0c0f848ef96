"""The Phone Migration Service: Cisco IP Phone XML screens (M-1..M-5).

One thin view per screen; every decision is the engine's (``models.services.selfservice``,
``models.rules.onboarding``, ``models.services.activation``). Phones send input as query
parameters; the PIN and codes arrive once and never appear in a later URL, a
page, a log line or an error. The session id in the URLs is unguessable and
tied to the device name; the session lives in the database (``models.storage.sessions``),
so any web process may serve the next screen. A screen that changed it saves it.

The views call services (``SelfService``, ``Activation``) and open no
transaction, with one exception: the blueprint's ``Database.shared_reads``
scope around each request, so that a screen's reads share one read
transaction (``docs/benchmarks.md``); the services' reads join it.
"""

from __future__ import annotations

import re
from functools import wraps
from urllib.parse import urlencode

from flask import Blueprint, Response, g, request

from models.rules.attempt import Attempt
from models.rules.onboarding import BOTH, NONE, first_screen, screens_refusal
from models.rules.refusals import Kind, Refused
from models.rules.selection import Candidate
from phoneservice.observe import log_event
from phoneservice.web.screens import ciscoxml as cx
from phoneservice.web.services import services

blueprint = Blueprint("screens", __name__, url_prefix="/screens")
DEVICE_NAME = re.compile(r"^SEP[0-9A-F]{12}$")
TITLE = "Phone Migration"
PAGE = 10  # devices per list screen


@blueprint.before_request
def _one_read_transaction() -> None:
    """A screen's reads share one transaction (``Database.shared_reads``)."""
    g.shared_reads = services().db.shared_reads()
    g.shared_reads.__enter__()


@blueprint.teardown_request
def _end_read_transaction(_exc) -> None:
    scope = g.pop("shared_reads", None)
    if scope is not None:
        scope.__exit__(None, None, None)


def _xml(data: bytes, history: bool = False) -> Response:
    response = Response(data, content_type=cx.CONTENT_TYPE)
    if not history:
        response.headers["Expires"] = "-1"
    return response


def _url(endpoint: str, **params) -> str:
    return f"{request.host_url.rstrip('/')}/screens/{endpoint}?{urlencode(params)}"


def _first_url(name: str) -> str:
    return _url("", name=name)


def _series() -> str:
    return cx.series_for(request.headers.get("x-CiscoIPPhoneModelName"))


def _message(body: str, name: str, title: str = TITLE) -> Response:
    """M-3: every error says what to do next; Back or Exit returns to the first screen."""
    keys = cx.softkeys(_series(), back=_first_url(name), exit=_first_url(name))
    return _xml(cx.text(title, "", body, keys))


def _refused(refusal: Refused, name: str, sess=None) -> Response:
    svc = services()
    if refusal.kind in (Kind.CREDENTIAL, Kind.LOCKED):
        svc.metrics.auth_failures.labels("screen").inc()
    if refusal.final and sess is not None:
        _end(sess)
    return _message(refusal.message + ".", name)


def _end(sess) -> None:
    services().screen_sessions.end(sess)


def _session(name: str):
    return services().screen_sessions.get(request.args.get("s"), name)


def _device_name() -> str | None:
    name = request.args.get("name", "")
    return name if DEVICE_NAME.match(name) else None


def _expired(name: str) -> Response:
    return _message("This screen has expired. Start again from the first screen.", name)


def in_session(view):
    """A screen inside a session: the device name checked and the session found, else "expired"."""

    @wraps(view)
    def wrapper():
        name = _device_name()
        sess = _session(name) if name else None
        if sess is None:
            return _expired(name or "")
        response = view(name, sess)
        if not sess.ended:
            services().screen_sessions.save(sess)
        return response

    return wrapper


@blueprint.get("/")
def first():
    """M-1: the first screen per source Table 4; M-2: unsupported phones told so."""
    name = _device_name()
    if name is None:
        return _xml(cx.text(TITLE, "", "This phone could not be identified. Ask your administrator."))
    svc = services()
    header_model = request.headers.get("x-CiscoIPPhoneModelName")
    start = svc.selfservice.start(name, header_model)
    refusal = screens_refusal(start.model, start.load, svc.catalog)
    if refusal:
        return _message(refusal + ".", name)
    if start.preconfigured:
        return _message("This phone is already set up. Nothing to do here.", name)
    screen = first_screen(False, start.settings.autoreg_enabled, start.onboarding_method)
    if screen == NONE and not start.known:
        return _message("This phone registers by itself. Then dial the self-provisioning number "
                        f"{start.settings.ivr_route_point} to set it up.", name)
    attempt = Attempt(door="screen", new_device=name, new_model=start.model)
    sess = svc.screen_sessions.create(name, attempt, start.model)
    if screen == BOTH:
        items = [cx.MenuItem("Provision a new phone", _url("activate", name=name, s=sess.id)),
                 cx.MenuItem("Replace an existing phone", _url("identify", name=name, s=sess.id))]
        return _xml(cx.menu(TITLE, "Choose an option", items, cx.softkeys(_series(), select=True, exit=True)))
    return identify_screen(name, sess.id)


def identify_screen(name: str, sid: str) -> Response:
    by_id = services().selfservice.settings().identification == "self_service_user_id"
    item = cx.InputItem("Self-service user ID" if by_id else "Primary extension", "ext", "T" if by_id else "N")
    return _xml(cx.input_screen(TITLE, "Identify yourself", _url("identified", name=name, s=sid), [item],
                                cx.softkeys(_series(), submit=True, back=_first_url(name))))


@blueprint.get("/identify")
@in_session
def identify(name: str, sess) -> Response:
    return identify_screen(name, sess.id)


@blueprint.get("/identified")
@in_session
def identified(name: str, sess) -> Response:
    svc = services()
    try:
        svc.selfservice.identify(sess.attempt, request.args.get("ext", ""))
    except Refused as refusal:
        return _refused(refusal, name, sess)
    if not svc.selfservice.needs_secret():
        return _after_authentication(name, sess)
    item = cx.InputItem("PIN or authentication code", "pin", "NP")
    return _xml(cx.input_screen(TITLE, "Enter your PIN", _url("authenticated", name=name, s=sess.id), [item],
                                cx.softkeys(_series(), submit=True, back=_url("identify", name=name, s=sess.id))))


@blueprint.get("/authenticated")
@in_session
def authenticated(name: str, sess) -> Response:
    try:
        services().selfservice.authenticate(sess.attempt, request.args.get("pin", ""))
    except Refused as refusal:
        if not refusal.final and refusal.code == "invalid_credentials":
            body = f"{refusal.message}. Press Back to try again."
            keys = cx.softkeys(_series(), back=_url("identify", name=name, s=sess.id), exit=_first_url(name))
            return _xml(cx.text(TITLE, "", body, keys))
        return _refused(refusal, name, sess)
    return _after_authentication(name, sess)


def _after_authentication(name: str, sess) -> Response:
    """D-3: one unregistered candidate goes straight to its preview; otherwise a list."""
    try:
        selection = services().selfservice.select(sess.attempt)
    except Refused as refusal:
        return _refused(refusal, name, sess)
    if selection.chosen is not None:
        return _preview(name, sess, selection.chosen.name)
    return _device_list(name, sess, 0)


def _label(candidate: Candidate) -> str:
    """D-4: description, phone model and MAC address, within the 64-character limit."""
    tail = f" {candidate.model.replace('Cisco ', '')} {candidate.mac}"
    return cx.fit(candidate.description or "Phone", cx.MENU_NAME_MAX - len(tail)) + tail


def _device_list(name: str, sess, page: int) -> Response:
    choices = sess.attempt.candidates
    pages = max(1, -(-len(choices) // PAGE))
    page = page % pages
    start = page * PAGE
    items = [cx.MenuItem(_label(c), _url("preview", name=name, s=sess.id, d=start + i))
             for i, c in enumerate(choices[start:start + PAGE])]
    more = {"next": _url("choose", name=name, s=sess.id, p=page + 1)} if pages > 1 else {}
    keys = cx.softkeys(_series(), select=True, exit=_first_url(name), **more)
    prompt = f"Which phone? ({page + 1}/{pages})" if pages > 1 else "Which phone to replace?"
    return _xml(cx.menu(TITLE, prompt, items, keys))


@blueprint.get("/choose")
@in_session
def choose(name: str, sess) -> Response:
    if not sess.attempt.candidates:
        return _expired(name)
    return _device_list(name, sess, request.args.get("p", 0, type=int))


@blueprint.get("/preview")
@in_session
def preview(name: str, sess) -> Response:
    index = request.args.get("d", -1, type=int)
    if not 0 <= index < len(sess.attempt.candidates):
        return _message("That phone is not in the list. Start again.", name)
    return _preview(name, sess, sess.attempt.candidates[index].name)


def _preview(name: str, sess, old: str) -> Response:
    """C-15: what the new phone will lose, before the user confirms."""
    try:
        plan = services().selfservice.preview(sess.attempt, old)
    except Refused as refusal:
        return _refused(refusal, name, sess)
    sess.chosen = old
    lines = [f"Replace {old} ({plan.old.model}) with this phone."]
    lines += [f"- {item}." for item in plan.summary()] or ["All its settings carry over."]
    lines.append("Press Confirm to go ahead.")
    body = cx.fit("\n".join(lines), cx.TEXT_MAX)
    keys = [cx.SoftKey("Confirm", _url("confirm", name=name, s=sess.id), 1), cx.SoftKey("Exit", _first_url(name), 3)]
    return _xml(cx.text(TITLE, "Confirm the replacement", body, keys))


@blueprint.get("/confirm")
@in_session
def confirm(name: str, sess) -> Response:
    if sess.chosen is None:
        return _expired(name)
    svc = services()
    try:
        # the session ends in the migration's transaction: one write fewer a flow
        result = svc.selfservice.replace(sess.attempt, sess.chosen,
                                         also=lambda s: svc.screen_sessions.end(sess, s.connection()))
    except Refused as refusal:
        svc.metrics.migrations.labels("screen", "refused").inc()
        return _refused(refusal, name, sess)
    svc.metrics.migrations.labels("screen", "migrated").inc()
    log_event("migrated", door="screen", old=sess.chosen, new=result.new_device)
    return _success(name, f"Done: this phone takes over the settings of {sess.chosen}.", result)


def _success(name: str, what: str, result=None) -> Response:
    """C-14: the phone restarts (NOTIFY where its contact is known, sent after this
    page; else its next config poll)."""
    notified = services().restart_soon(name, result)  # this phone is waiting for the page: don't wait for it
    how = "It restarts in a moment" if notified else "It picks up its new settings at its next restart"
    body = f"{what} {how}. If nothing changes within 2 minutes, unplug the phone and plug it back in."
    return _xml(cx.text(TITLE, "Success", body, cx.softkeys(_series(), exit=True)))


@blueprint.get("/activate")
@in_session
def activate(name: str, sess) -> Response:
    """M-5: "Provision a new phone" takes an activation code."""
    item = cx.InputItem("Activation code", "code", "NP")
    return _xml(cx.input_screen(TITLE, "Enter the activation code", _url("activated", name=name, s=sess.id), [item],
                                cx.softkeys(_series(), submit=True, back=_first_url(name))))


@blueprint.get("/activated")
@in_session
def activated(name: str, sess) -> Response:
    svc = services()
    try:
        device = svc.activation.redeem(request.args.get("code", ""), name[3:], sess.model)
    except Refused as refusal:
        svc.migrator.record_refusal("screen", f"activation code from {name}", None, name, refusal, action="activate")
        return _refused(refusal, name, sess)
    _end(sess)
    log_event("activated", door="screen", device=device)
    return _success(name, "Done: this phone is now set up for you.")
