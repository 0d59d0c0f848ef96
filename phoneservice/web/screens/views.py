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
from models.rules.onboarding import BOTH, NONE, REPLACE_ONLY, first_screen, screens_refusal
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


def _first_url(name: str, sess=None) -> str:
    """The first screen; in ``sess`` (its A-4 count kept) while that session lives."""
    return _url("", name=name, s=sess.id) if sess is not None and not sess.ended else _url("", name=name)


def _exit_url(name: str, sess=None) -> str:
    """M-3: Exit ends the session (``/screens/exit``), then shows the first screen."""
    return _url("exit", name=name, s=sess.id) if sess is not None and not sess.ended else _url("", name=name)


def _series() -> str:
    return cx.series_for(request.headers.get("x-CiscoIPPhoneModelName"))


def _message(body: str, name: str, sess=None) -> Response:
    """M-3: every error says what to do next; Back returns to the first screen (in the
    same session while it lives), Exit ends the session and shows the first screen."""
    keys = cx.softkeys(_series(), back=_first_url(name, sess), exit=_exit_url(name, sess))
    return _xml(cx.text(TITLE, "", body, keys))


def _refused(refusal: Refused, name: str, sess=None) -> Response:
    svc = services()
    if refusal.kind in (Kind.CREDENTIAL, Kind.LOCKED):
        svc.metrics.auth_failures.labels("screen").inc()
    if refusal.final and sess is not None:
        _end(sess)
    retry = " Press Back to try again." if not refusal.final and refusal.kind in (Kind.CREDENTIAL, Kind.INVALID) else ""
    return _message(refusal.message + "." + retry, name, sess)


def _end(sess) -> None:
    services().screen_sessions.end(sess)


def _session(name: str):
    return services().screen_sessions.get(request.args.get("s"), name)


def _device_name() -> str | None:
    name = request.args.get("name", "")
    return name if DEVICE_NAME.match(name) else None


def _expired(name: str, sess=None) -> Response:
    return _message("This screen has expired. Start again from the first screen.", name, sess)


def in_session(view):
    """A screen inside a session: the device name checked and the session found. A
    request on a session that ended (Exit, a migration, A-4) or idled out starts
    over: the first screen, in a new session (M-3)."""

    @wraps(view)
    def wrapper():
        name = _device_name()
        if name is None:
            return _unidentified()
        sess = _session(name)
        if sess is None:
            return _first_screen(name, None, again=True)
        response = view(name, sess)
        if not sess.ended:
            services().screen_sessions.save(sess)
        return response

    return wrapper


def _unidentified() -> Response:
    return _xml(cx.text(TITLE, "", "This phone could not be identified. Ask your administrator."))


@blueprint.get("/")
def first():
    """M-1: the first screen per source Table 4; M-2: unsupported phones told so. With
    a live session (Back from an error, M-3) the first screen continues it, so A-4's
    count of wrong entries in one session holds; it starts that session's attempt afresh."""
    name = _device_name()
    if name is None:
        return _unidentified()
    sess = _session(name) if request.args.get("s") else None
    return _first_screen(name, sess, again=bool(request.args.get("s")) and sess is None)


@blueprint.get("/exit")
def exit_():
    """M-3: Exit ends the screen session; the first screen starts a new one, and a
    later request on the ended session starts over too."""
    name = _device_name()
    if name is None:
        return _unidentified()
    sess = _session(name)
    if sess is not None:
        _end(sess)
    return _first_screen(name, None)


def _first_screen(name: str, sess, again: bool = False) -> Response:
    """M-1 per source Table 4. ``again``: a request on a session that is over."""
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
    if sess is None:
        sess = svc.screen_sessions.create(name, attempt, start.model)
    else:  # Back to the first screen: the same session, its wrong entries still counted
        attempt.failures = sess.attempt.failures
        sess.attempt, sess.chosen = attempt, None
        svc.screen_sessions.save(sess)
    if screen in (BOTH, REPLACE_ONLY):
        items = [cx.MenuItem("Provision a new phone", _url("activate", name=name, s=sess.id))] if screen == BOTH else []
        items.append(cx.MenuItem("Replace an existing phone", _url("identify", name=name, s=sess.id)))
        prompt = "Start again: choose an option" if again else "Choose an option"
        return _xml(cx.menu(TITLE, prompt, items, cx.softkeys(_series(), select=True, exit=True)))
    return identify_screen(name, sess, again)


def identify_screen(name: str, sess, again: bool = False) -> Response:
    by_id = services().selfservice.settings().identification == "self_service_user_id"
    item = cx.InputItem("Self-service user ID" if by_id else "Primary extension", "ext", "T" if by_id else "N")
    prompt = "Start again: identify yourself" if again else "Identify yourself"
    return _xml(cx.input_screen(TITLE, prompt, _url("identified", name=name, s=sess.id), [item],
                                cx.softkeys(_series(), submit=True, backspace=True, back=_first_url(name, sess))))


@blueprint.get("/identify")
@in_session
def identify(name: str, sess) -> Response:
    return identify_screen(name, sess)


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
                                cx.softkeys(_series(), submit=True, backspace=True,
                                            back=_url("identify", name=name, s=sess.id))))


@blueprint.get("/authenticated")
@in_session
def authenticated(name: str, sess) -> Response:
    try:
        services().selfservice.authenticate(sess.attempt, request.args.get("pin", ""))
    except Refused as refusal:
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
    keys = cx.softkeys(_series(), select=True, exit=_exit_url(name, sess), **more)
    prompt = f"Which phone? ({page + 1}/{pages})" if pages > 1 else "Which phone to replace?"
    return _xml(cx.menu(TITLE, prompt, items, keys))


@blueprint.get("/choose")
@in_session
def choose(name: str, sess) -> Response:
    if not sess.attempt.candidates:
        return _expired(name, sess)
    return _device_list(name, sess, request.args.get("p", 0, type=int))


@blueprint.get("/preview")
@in_session
def preview(name: str, sess) -> Response:
    index = request.args.get("d", -1, type=int)
    if not 0 <= index < len(sess.attempt.candidates):
        return _message("That phone is not in the list. Start again.", name, sess)
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
    keys = [cx.SoftKey("Confirm", _url("confirm", name=name, s=sess.id), 1), cx.SoftKey("Exit", _exit_url(name, sess), 3)]
    return _xml(cx.text(TITLE, "Confirm the replacement", body, keys))


@blueprint.get("/confirm")
@in_session
def confirm(name: str, sess) -> Response:
    if sess.chosen is None:
        return _expired(name, sess)
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
                                cx.softkeys(_series(), submit=True, backspace=True, back=_first_url(name, sess))))


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
