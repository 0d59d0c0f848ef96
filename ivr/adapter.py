"""The pjsua2 adapter: callbacks in, flow events out; flow actions in, pjsua2 calls out.

It decides nothing (``ivr.flow`` does). ``IvrAdapter`` keeps one ``CallSession``
per call, keyed by its own serial number (pjsua reuses call ids), and speaks to
pjsua2 only through two small interfaces, ``CallLeg`` and ``Player``, which the
unit tests fake: no ``Endpoint`` may ever exist in the test process
(docs/pjsua2.md). The pjsua2 classes that implement them are built by
``ivr.pjsua.pjsua2_classes()``, in the worker process only.

Threads (docs/pjsua2.md): every ``IvrAdapter`` method runs on the reactor
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
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from twisted.internet import defer, threads
from twisted.python.failure import Failure

from ivr import flow
from ivr.engine import engine_failure, run_engine
from ivr.invite import CallerId
from ivr.log import error_text, log_event
from ivr.prompts import language_order, prompt_path
from models.rules.attempt import Attempt

RELEASE_AFTER = 1.5  # seconds a retired player is kept before its release (docs/pjsua2.md deadlock)
OK, SERVER_ERROR, UNAVAILABLE = 200, 500, 503


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

    def respond(self, status: int) -> None: ...  # 200 (with audio), 500, 503
    def play(self, path: str, on_end: Callable[[], None]) -> Player: ...  # raises PlayError; on_end on the reactor thread
    def stop(self, player: Player) -> None: ...  # disconnect it from the call (never after DISCONNECTED)
    def end(self) -> None: ...  # hang up (BYE)
    def detach(self) -> None: ...  # the adapter forgets the leg: drop references back to it


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
    final: int | None = None  # the final answer sent to the INVITE


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
        on_calls: Callable[[int], object] | None = None,
    ) -> None:
        self.service = service
        self.on_calls = on_calls  # told the number of calls whenever it changes
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
        self._calls_changed()
        log_event("ivr_call_incoming", call=serial, number=caller.number, device_name=caller.device_name,
                  instance=caller.instance, accepting=self.accepting)
        if not self.accepting:  # draining: the dispatcher tries another worker
            leg.respond(UNAVAILABLE)
            return serial
        began = time.monotonic()
        d = self.in_thread(self.look_up, caller)
        d.addCallbacks(lambda found: self._answer(session, *found, began),
                       lambda failure: self._lookup_failed(session, failure))
        d.addErrback(self._log_failure, "ivr_answer_failed", session)
        d.addBoth(lambda _: self._ended_if_unanswered(session))
        return serial

    def _ended_if_unanswered(self, session: CallSession) -> None:
        """I-4: a call left with no final answer (its answering failed) is refused, never left ringing."""
        if session.final is None and session.leg is not None and not session.hung_up:
            self._respond(session, SERVER_ERROR)

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
    def look_up(self, caller: CallerId):
        """In a thread: which new phone calls, and the site's IVR settings (S-3, S-4).
        Read-only: the worker also runs it before it says READY (I-8)."""
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
        self._respond(session, OK)

    def _lookup_failed(self, session: CallSession, failure: Failure) -> None:
        log_event("ivr_lookup_failed", logging.ERROR, call=session.serial, error=error_text(failure.value))
        if not session.hung_up and session.leg is not None:
            self._respond(session, SERVER_ERROR)

    def _respond(self, session: CallSession, status: int) -> None:
        """The final answer; a call that ended meanwhile (a CANCEL during the look-up, I-4) ends here once."""
        try:
            session.leg.respond(status)
            session.final = status
        except Exception as exc:  # noqa: BLE001 - pjsua2 raises its own Error for a call that is gone
            log_event("ivr_answer_failed", logging.WARNING, call=session.serial, status=status, error=error_text(exc))
            self.disconnected(session.serial)

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
                                  action=type(action).__name__, error=error_text(exc))
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
                          error=error_text(result.value))

        d.addBoth(finished)

    @staticmethod
    def _log_failure(failure: Failure, event: str, session: CallSession) -> None:
        log_event(event, logging.ERROR, call=session.serial, error=error_text(failure.value))

    # --- forgetting --------------------------------------------------------------
    def _calls_changed(self) -> None:
        if self.on_calls is not None:
            self.on_calls(len(self.sessions))

    def _forget_leg(self, session: CallSession) -> None:
        if session.leg is not None:
            session.leg.detach()
            session.leg = None
        self._maybe_forget(session)

    def _maybe_forget(self, session: CallSession) -> None:
        if session.hung_up and session.leg is None and session.engine_jobs == 0 and not session.feeding:
            if self.sessions.pop(session.serial, None) is not None:
                self._calls_changed()
