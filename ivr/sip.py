"""The pjsua2 adapter: callbacks in, flow events out; flow actions in, pjsua2 calls out.

It decides nothing (``ivr.flow`` does). ``IvrAdapter`` keeps one ``CallSession``
per call, keyed by its own serial number (pjsua reuses call ids), and speaks to
pjsua2 only through two small interfaces, ``CallLeg`` and ``Player``, which the
unit tests fake: no ``Endpoint`` may ever exist in the test process
(shared/PJSUA2.md). The pjsua2 classes that implement them are built by
``pjsua2_classes()`` at the bottom, in the worker process only.

Threads (shared/PJSUA2.md): every ``IvrAdapter`` method runs on the reactor
thread, which is pjsua's main thread (``threadCnt=0``, ``mainThreadOnly``).
Database work runs in the reactor's thread pool and never touches pjsua2;
``onEof2`` arrives on pjmedia's event thread and hops to the reactor with
``callFromThread`` carrying two integers. Stopped and finished players are
kept for ``RELEASE_AFTER`` seconds and released on the reactor thread: the last
reference to a pjsua2 object must never die on a pjmedia thread.

A-6: digits are never logged; the PIN only passes through ``RunEngine.arg``.
"""

from __future__ import annotations

import functools
import logging
import re
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import unquote

from twisted.internet import defer, threads
from twisted.python.failure import Failure

from ivr import flow
from ivr.prompts import language_order, prompt_path
from models.rules.refusals import Refused
from models.rules.attempt import Attempt
from phoneservice.observe import log_event

RELEASE_AFTER = 1.5  # seconds a retired player is kept before its release (PJSUA2.md deadlock)
RINGING, OK, SERVER_ERROR, UNAVAILABLE = 180, 200, 500, 503


# --- who is calling -----------------------------------------------------------
@dataclass(frozen=True)
class CallerId:
    """The INVITE's calling number (From user) and Cisco's device parameters in Contact."""

    number: str | None = None
    device_name: str | None = None  # +u.sip!devicename.ccm.cisco.com
    instance: str | None = None  # +sip.instance, e.g. "<urn:uuid:...-9c57ad12a4e0>"


_COMPACT = {"f": "from", "m": "contact"}
_URI_USER = re.compile(r"sips?:([^@;>?\s]+)@", re.IGNORECASE)
_DEVICENAME = re.compile(r';\s*\+u\.sip!devicename\.ccm\.cisco\.com\s*=\s*"?([^";,\s]+)"?', re.IGNORECASE)
_INSTANCE = re.compile(r';\s*\+sip\.instance\s*=\s*"?(<[^>]*>|[^";,\s]+)"?', re.IGNORECASE)


def parse_invite(message: str) -> CallerId:
    """PROTOCOL.md "SIP": From user, Contact ``devicename`` and ``+sip.instance``."""
    head = re.split(r"\r?\n\r?\n", message or "", maxsplit=1)[0]
    head = re.sub(r"\r?\n[ \t]+", " ", head)  # unfold continuation lines
    headers: dict[str, str] = {}
    for line in head.splitlines()[1:]:
        name, colon, value = line.partition(":")
        name = name.strip().lower()
        name = _COMPACT.get(name, name)
        if colon and name in ("from", "contact") and name not in headers:
            headers[name] = value.strip()
    sender = headers.get("from", "")
    uri = sender[sender.find("<") + 1 :] if "<" in sender else sender
    user = _URI_USER.search(uri)
    contact = headers.get("contact", "")
    device = _DEVICENAME.search(contact)
    instance = _INSTANCE.search(contact)
    return CallerId(
        number=unquote(user.group(1)) if user else None,
        device_name=device.group(1) if device else None,
        instance=instance.group(1) if instance else None,
    )


# --- what the adapter needs from pjsua2 -----------------------------------------
class PlayError(Exception):
    """A prompt file could not be played (missing, unreadable, no media port left)."""


class Player(Protocol):
    def close(self) -> None:
        """No more end-of-file notices; the release is the last reference dropped."""


class CallLeg(Protocol):
    serial: int  # set by the adapter before anything else

    @property
    def audio_ready(self) -> bool: ...  # the call's audio media is active

    def respond(self, status: int) -> None: ...  # 180, 200 (with audio), 503 ...
    def play(self, path: str, on_end: Callable[[], None]) -> Player: ...  # raises PlayError; on_end on the reactor thread
    def stop(self, player: Player) -> None: ...  # disconnect it from the call (never after DISCONNECTED)
    def end(self) -> None: ...  # hang up (BYE)
    def detach(self) -> None: ...  # the adapter forgets the leg: drop references back to it


# --- the engine, in a thread ---------------------------------------------------
def engine_value(op: str, result: Any) -> object:
    """The flow's view of a ``SelfService`` answer: plain data, no model objects."""
    if op == "select":
        describe = lambda c: {"name": c.name, "model": c.model, "mac": c.mac, "description": c.description}  # noqa: E731
        if result.chosen is not None:
            return {"chosen": describe(result.chosen)}
        return {"choices": [describe(c) for c in result.choices]}
    if op == "preview":
        return {"losses": len(result.losses), "kem_moves": any("move to the KEM" in w for w in result.warnings)}
    if op == "replace":
        return {"new_device": result.new_device}
    if op == "provision":
        return {"new_device": result}
    return None


def run_engine(service: Any, attempt: Attempt, op: str, arg: str | None) -> object:
    """RunEngine(op, arg) -> ``SelfService.<op>`` on the call's Attempt. Off the reactor thread."""
    if op in ("identify", "authenticate"):
        getattr(service, op)(attempt, arg or "")
        return None
    if op in ("select", "provision"):
        return engine_value(op, getattr(service, op)(attempt))
    if op in ("preview", "replace"):
        return engine_value(op, getattr(service, op)(attempt, arg or ""))
    raise ValueError(f"unknown engine operation {op!r}")


def engine_failure(op: str, failure: Failure) -> flow.EngineFailed:
    if failure.check(Refused):
        refusal = failure.value
        return flow.EngineFailed(op, refusal.code, refusal.final)
    log_event("ivr_engine_error", logging.ERROR, op=op, error=repr(failure.value))
    return flow.EngineFailed(op, "error", final=True)  # nothing the caller can retype


# --- one call -----------------------------------------------------------------
@dataclass(eq=False)
class CallSession:
    serial: int
    leg: CallLeg | None
    caller: CallerId
    started: float
    device: str | None = None  # the calling new phone (caller_device)
    language: str = "en"
    attempt: Attempt | None = None
    state: flow.State | None = None  # None until answered
    hung_up: bool = False
    inbox: deque = field(default_factory=deque)
    feeding: bool = False
    timers: dict = field(default_factory=dict)  # name -> IDelayedCall
    queue: deque = field(default_factory=deque)  # prompt files still to play
    sequence: bool = False  # a Play is under way (PromptDone owed at its natural end)
    player: Player | None = None
    token: int = 0  # of the current player
    engine_jobs: int = 0


class IvrAdapter:
    """Turns callbacks into ``ivr.flow`` events and runs the actions. Reactor thread only."""

    def __init__(
        self,
        service: Any,
        reactor: Any,
        *,
        restart: Callable[[str], object],
        in_thread: Callable[..., defer.Deferred] = threads.deferToThread,
        prompts_dir: Path | str | None = None,
        first_digit_timeout: float | None = None,
        inter_digit_timeout: float | None = None,
    ) -> None:
        self.service = service
        self.reactor = reactor
        self.in_thread = in_thread
        self.restart = restart  # C-14, called in a thread with the device name
        self.prompts_dir = prompts_dir
        self.timeouts = {k: v for k, v in (("first_digit_timeout", first_digit_timeout),
                                           ("inter_digit_timeout", inter_digit_timeout)) if v is not None}
        self.accepting = True
        self.sessions: dict[int, CallSession] = {}
        self.jobs = 0  # restarts in flight
        self._serial = 0
        self._graveyard: dict[int, Player] = {}
        self._buried = 0

    # --- callbacks from pjsua2 (reactor thread) --------------------------
    def incoming(self, leg: CallLeg, caller: CallerId) -> int:
        self._serial += 1
        leg.serial = serial = self._serial
        session = CallSession(serial, leg, caller, started=self.reactor.seconds())
        self.sessions[serial] = session
        log_event("ivr_call_incoming", call=serial, number=caller.number, device_name=caller.device_name,
                  instance=caller.instance, accepting=self.accepting)
        if not self.accepting:  # draining: the dispatcher tries another worker
            leg.respond(UNAVAILABLE)
            return serial
        leg.respond(RINGING)
        began = time.monotonic()
        d = self.in_thread(self._lookup, caller)
        d.addCallbacks(lambda found: self._answer(session, *found, began),
                       lambda failure: self._lookup_failed(session, failure))
        d.addErrback(self._log_failure, "ivr_answer_failed", session)
        return serial

    def media_ready(self, serial: int) -> None:
        session = self.sessions.get(serial)
        if session is not None and not session.hung_up:
            self._next_prompt(session)

    def confirmed(self, serial: int) -> None:
        session = self.sessions.get(serial)
        if session is not None and session.state is not None and not session.hung_up:
            self._feed(session, flow.Answered(session.device))

    def digit(self, serial: int, digit: str) -> None:
        session = self.sessions.get(serial)
        if session is not None and session.state is not None and not session.hung_up:
            self._feed(session, flow.Digit(digit))

    def disconnected(self, serial: int) -> None:
        session = self.sessions.get(serial)
        if session is None or session.hung_up:
            return
        session.hung_up = True  # from here on the call's audio media is gone
        for timer in session.timers.values():
            if timer.active():
                timer.cancel()
        session.timers.clear()
        self._stop(session)
        log_event("ivr_call_ended", call=serial, device=session.device,
                  phase=session.state.phase if session.state else "unanswered",
                  seconds=round(self.reactor.seconds() - session.started, 1))
        if session.state is not None:
            self._feed(session, flow.HungUp())
        self.reactor.callLater(0, self._forget_leg, session)  # never drop a Call inside its callback

    def prompt_ended(self, serial: int, token: int) -> None:
        """A player reached the end of its file (hopped from pjmedia's event thread)."""
        session = self.sessions.get(serial)
        if session is None or session.player is None or token != session.token:
            return
        self._retire(session, session.player)
        session.player = None
        self._next_prompt(session)

    # --- drain and shutdown -----------------------------------------------
    def stop_accepting(self) -> None:
        self.accepting = False

    def idle(self) -> bool:
        return not self.sessions and self.jobs == 0

    def close(self) -> None:
        """Shutdown: forget every call, timer and player (the worker then destroys the library)."""
        for session in list(self.sessions.values()):
            for timer in session.timers.values():
                if timer.active():
                    timer.cancel()
            if session.player is not None:
                session.player.close()
            session.player = None
            if session.leg is not None:
                session.leg.detach()
            session.leg = None
        self.sessions.clear()
        self._graveyard.clear()

    # --- answering ----------------------------------------------------------
    def _lookup(self, caller: CallerId):
        """In a thread: which new phone calls, and the site's IVR settings (S-3, S-4)."""
        device = self.service.caller_device(caller.number, caller.device_name, caller.instance)
        return device, self.service.settings()

    def _answer(self, session: CallSession, device: str | None, settings: Any, began: float) -> None:
        if session.hung_up or session.leg is None:
            return
        session.device = device
        session.language = language_order(settings.ivr_languages)[0]
        session.attempt = Attempt(door="ivr", new_device=device)
        config = flow.FlowConfig(needs_secret=settings.authentication != "none",
                                 identification=settings.identification,
                                 max_attempts=settings.session_attempts, **self.timeouts)
        session.state = flow.initial_state(config)
        log_event("ivr_call_answering", call=session.serial, device=device, language=session.language,
                  lookup_ms=round((time.monotonic() - began) * 1000))
        session.leg.respond(OK)

    def _lookup_failed(self, session: CallSession, failure: Failure) -> None:
        log_event("ivr_lookup_failed", logging.ERROR, call=session.serial, error=repr(failure.value))
        if not session.hung_up and session.leg is not None:
            session.leg.respond(SERVER_ERROR)

    # --- events into the flow, actions out ---------------------------------------
    def _feed(self, session: CallSession, event: flow.Event) -> None:
        """One event at a time per call: an action may cause a callback that feeds another."""
        session.inbox.append(event)
        if session.feeding:
            return
        session.feeding = True
        try:
            while session.inbox:
                session.state, actions = flow.step(session.state, session.inbox.popleft(), self.reactor.seconds())
                for action in actions:
                    try:
                        self._run(session, action)
                    except Exception as exc:  # one failed action must not lose the call's later events
                        log_event("ivr_action_failed", logging.ERROR, call=session.serial,
                                  action=type(action).__name__, error=repr(exc))
        finally:
            session.feeding = False
        self._maybe_forget(session)

    def _run(self, session: CallSession, action: flow.Action) -> None:
        if isinstance(action, flow.Play):
            self._play(session, action.prompts)
        elif isinstance(action, flow.StopPlaying):
            self._stop(session)
        elif isinstance(action, flow.StartTimer):
            self._cancel_timer(session, action.name)
            session.timers[action.name] = self.reactor.callLater(
                action.seconds, self._timer_fired, session, action.name, action.serial)
        elif isinstance(action, flow.CancelTimer):
            self._cancel_timer(session, action.name)
        elif isinstance(action, flow.RunEngine):
            self._run_engine(session, action.op, action.arg)
        elif isinstance(action, flow.Hangup):
            if not session.hung_up and session.leg is not None:
                session.leg.end()
        elif isinstance(action, flow.SendRestart):
            self._send_restart(session)

    # --- prompts --------------------------------------------------------------
    def _play(self, session: CallSession, names: tuple[str, ...]) -> None:
        self._stop(session)
        if session.hung_up:
            return
        session.queue.extend(p for p in (self._prompt_file(session, n) for n in names) if p)
        session.sequence = True
        self._next_prompt(session)

    def _prompt_file(self, session: CallSession, name: str) -> str | None:
        for language in dict.fromkeys((session.language, "en")):
            try:
                path = prompt_path(language, name, self.prompts_dir)
            except KeyError:
                continue
            if path.is_file():
                return str(path)
        log_event("ivr_prompt_missing", logging.WARNING, prompt=name, language=session.language)
        return None

    def _next_prompt(self, session: CallSession) -> None:
        if session.player is not None or session.hung_up or session.leg is None or not session.sequence:
            return
        if not session.leg.audio_ready:
            return  # media_ready() comes back here
        while session.queue:
            path = session.queue.popleft()
            session.token += 1
            try:
                session.player = session.leg.play(path, functools.partial(self.prompt_ended, session.serial, session.token))
                return
            except PlayError as exc:
                log_event("ivr_prompt_failed", logging.ERROR, call=session.serial, file=path, error=str(exc))
        session.sequence = False  # the sequence ended by itself
        self._feed(session, flow.PromptDone())

    def _stop(self, session: CallSession) -> None:
        """StopPlaying, a newer Play or the hang-up: no PromptDone for this sequence."""
        session.queue.clear()
        session.sequence = False
        if session.player is not None:
            self._retire(session, session.player)
            session.player = None

    def _retire(self, session: CallSession, player: Player) -> None:
        player.close()
        if not session.hung_up and session.leg is not None:
            session.leg.stop(player)
        self._buried += 1
        self._graveyard[self._buried] = player
        self.reactor.callLater(RELEASE_AFTER, self._graveyard.pop, self._buried, None)

    # --- timers, engine, restart ------------------------------------------------
    def _cancel_timer(self, session: CallSession, name: str) -> None:
        timer = session.timers.pop(name, None)
        if timer is not None and timer.active():
            timer.cancel()

    def _timer_fired(self, session: CallSession, name: str, serial: int) -> None:
        session.timers.pop(name, None)
        if not session.hung_up:
            self._feed(session, flow.TimerFired(name, serial))

    def _run_engine(self, session: CallSession, op: str, arg: str | None) -> None:
        session.engine_jobs += 1
        began = time.monotonic()

        def done(event: flow.Event) -> None:
            session.engine_jobs -= 1
            outcome = event.code if isinstance(event, flow.EngineFailed) else "ok"
            log_event("ivr_engine", call=session.serial, op=op, outcome=outcome,
                      ms=round((time.monotonic() - began) * 1000), hung_up=session.hung_up)
            self._feed(session, event)

        d = self.in_thread(run_engine, self.service, session.attempt, op, arg)
        d.addCallbacks(lambda value: flow.EngineDone(op, value), lambda failure: engine_failure(op, failure))
        d.addCallback(done)
        d.addErrback(self._log_failure, "ivr_engine_error", session)

    def _send_restart(self, session: CallSession) -> None:
        """C-14: restart the caller's phone, off the reactor thread."""
        if not session.device:
            return
        self.jobs += 1
        d = self.in_thread(self.restart, session.device)

        def finished(result: object) -> None:
            self.jobs -= 1
            if isinstance(result, Failure):
                log_event("ivr_restart_failed", logging.ERROR, call=session.serial, device=session.device,
                          error=repr(result.value))

        d.addBoth(finished)

    @staticmethod
    def _log_failure(failure: Failure, event: str, session: CallSession) -> None:
        log_event(event, logging.ERROR, call=session.serial, error=repr(failure.value))

    # --- forgetting --------------------------------------------------------------
    def _forget_leg(self, session: CallSession) -> None:
        if session.leg is not None:
            session.leg.detach()
            session.leg = None
        self._maybe_forget(session)

    def _maybe_forget(self, session: CallSession) -> None:
        if session.hung_up and session.leg is None and session.engine_jobs == 0 and not session.feeding:
            self.sessions.pop(session.serial, None)


# --- pjsua2 ------------------------------------------------------------------------
@functools.cache
def pjsua2_classes():
    """The pjsua2 side of ``CallLeg`` and ``Player``, and the route point's account.

    Built on first use so that importing this module never loads the native
    stack (the unit tests use fakes).
    """
    import pjsua2 as pj

    def guarded(callback):
        """A Python exception escaping into pjsua2 would abort the worker: log it instead."""

        @functools.wraps(callback)
        def inner(self, *args):
            try:
                callback(self, *args)
            except Exception as exc:  # noqa: BLE001
                log_event("ivr_callback_failed", logging.ERROR, callback=callback.__name__, error=repr(exc))

        return inner

    class PromptPlayer(pj.AudioMediaPlayer):
        def __init__(self, reactor: Any, on_end: Callable[[], None]) -> None:
            super().__init__()
            self._reactor = reactor
            self._on_end: Callable[[], None] | None = on_end

        @guarded
        def onEof2(self) -> None:
            # pjmedia's event thread: hop to the reactor, plain data only.
            on_end = self._on_end
            if on_end is not None:
                self._reactor.callFromThread(on_end)

        def close(self) -> None:
            self._on_end = None

    class IvrCall(pj.Call):
        def __init__(self, account: Any, call_id: int, adapter: IvrAdapter, reactor: Any) -> None:
            super().__init__(account, call_id)
            self.serial = 0
            self._adapter: IvrAdapter | None = adapter
            self._reactor = reactor
            self._audio = None  # the call's AudioMedia while active; None from DISCONNECTED on

        @property
        def audio_ready(self) -> bool:
            return self._audio is not None

        # callbacks (reactor thread: mainThreadOnly, libHandleEvents in a LoopingCall)
        @guarded
        def onCallState(self, prm: Any) -> None:
            ci = self.getInfo()
            adapter = self._adapter
            if ci.state == pj.PJSIP_INV_STATE_DISCONNECTED:
                self._audio = None  # pjsua2 has freed it already
                if adapter is not None:
                    adapter.disconnected(self.serial)
            elif ci.state == pj.PJSIP_INV_STATE_CONFIRMED and adapter is not None:
                adapter.confirmed(self.serial)

        @guarded
        def onCallMediaState(self, prm: Any) -> None:
            ci = self.getInfo()  # bound first: iterating getInfo().media reads a freed temporary
            for mi in ci.media:
                if mi.type == pj.PJMEDIA_TYPE_AUDIO and mi.status == pj.PJSUA_CALL_MEDIA_ACTIVE:
                    self._audio = self.getAudioMedia(mi.index)
                    break
            if self._audio is not None and self._adapter is not None:
                self._adapter.media_ready(self.serial)

        @guarded
        def onDtmfDigit(self, prm: Any) -> None:
            # RFC 4733 (method 0) and SIP INFO (method 1) alike; never logged.
            if self._adapter is not None:
                self._adapter.digit(self.serial, prm.digit)

        # CallLeg
        def respond(self, status: int) -> None:
            prm = pj.CallOpParam(True)  # default call settings: one audio stream
            prm.statusCode = status
            if status >= 300:
                self.hangup(prm)
            else:
                self.answer(prm)

        def play(self, path: str, on_end: Callable[[], None]) -> PromptPlayer:
            player = PromptPlayer(self._reactor, on_end)
            try:
                player.createPlayer(path, pj.PJMEDIA_FILE_NO_LOOP)
                player.startTransmit(self._audio)
            except pj.Error as exc:
                player.close()
                raise PlayError(getattr(exc, "reason", "") or str(exc)) from None
            return player

        def stop(self, player: Any) -> None:
            if self._audio is not None:
                player.stopTransmit(self._audio)

        def end(self) -> None:
            self.hangup(pj.CallOpParam())

        def detach(self) -> None:
            self._adapter = None
            self._audio = None

    class RoutePoint(pj.Account):
        """The IVR's account: every INVITE to this host lands here (no registration)."""

        def __init__(self, adapter: IvrAdapter, reactor: Any) -> None:
            super().__init__()
            self._adapter = adapter
            self._reactor = reactor
            self._refused: list = []  # calls that failed to start, kept until pjsua is done with them

        def onIncomingCall(self, prm: Any) -> None:
            call = None
            try:
                call = IvrCall(self, prm.callId, self._adapter, self._reactor)  # now, or pjsua answers 500
                self._adapter.incoming(call, parse_invite(prm.rdata.wholeMsg))
            except Exception as exc:  # noqa: BLE001 - see guarded()
                log_event("ivr_callback_failed", logging.ERROR, callback="onIncomingCall", error=repr(exc))
                if call is not None:  # never dropped inside its callback
                    self._refused.append(call)
                    self._reactor.callLater(RELEASE_AFTER, self._refused.remove, call)
                    try:
                        call.respond(SERVER_ERROR)
                    except Exception:  # noqa: BLE001
                        pass

    return pj, PromptPlayer, IvrCall, RoutePoint
