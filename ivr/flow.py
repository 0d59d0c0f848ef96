"""The self-provisioning IVR as a pure state machine: A-1..A-7, D-3/D-4, P-1, C-14, C-15.

``step(state, event, now) -> (state, actions)``: no I/O, no clock, no pjsua2.
``ivr.adapter`` turns each callback or engine answer into one event and runs the
actions, in order. What the adapter promises:

- ``PromptDone`` only when a ``Play`` ends by itself (not after ``StopPlaying``
  or a newer ``Play``); ``StartTimer`` replaces a timer of the same name.
- ``RunEngine`` calls the ``SelfService`` method of that name off the reactor
  thread and answers ``EngineDone`` or ``EngineFailed`` (``Refused.code``/``final``).
- After ``HungUp`` it drops its timers; the flow then only ever sends
  ``SendRestart``, for a migration that completed (C-14).

A-6: the PIN lives only in ``State.buffer`` (or ``State.ahead``) while keyed and
in the one ``RunEngine("authenticate", pin)``; those fields, and ``Digit``, are
hidden from repr.

A-8, type-ahead: keys pressed while the IVR is busy (before the answer is
confirmed, or while the engine works) are kept in ``State.ahead`` and replayed
in order as soon as the flow listens again; they barge in, so the question they
answer is not played. A refusal, a retry or the end of the call drops them: the
caller must hear why before typing on. So does the confirmation (C-15): the
caller hears what the migration loses before any key says yes.

C-13: a caller who hangs up after an extension was accepted, before any
migration started, gets ``RunEngine("abandon", option)``: the attempt is
recorded as abandoned.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace

from ivr.wording import REFUSAL_PROMPTS, page_prompts, preview_prompts
from models.rules.selection import next_page, pick


@dataclass(frozen=True)
class FlowConfig:
    needs_secret: bool = True  # S-4: authentication other than "none"
    identification: str = "primary_extension"  # S-3, or "self_service_user_id"
    first_digit_timeout: float = 5.0
    inter_digit_timeout: float = 3.0
    max_attempts: int = 3
    max_digits: int = 20


# --- events (adapter -> flow) --------------------------------------------
@dataclass(frozen=True)
class Answered:
    caller_device: str | None  # None: not a known new phone


@dataclass(frozen=True)
class Digit:
    digit: str = field(repr=False)  # "0"-"9", "*", "#"; may be a PIN digit


@dataclass(frozen=True)
class PromptDone:
    pass


@dataclass(frozen=True)
class TimerFired:
    name: str
    serial: int


@dataclass(frozen=True)
class HungUp:
    pass


@dataclass(frozen=True)
class EngineDone:
    op: str
    value: object = None


@dataclass(frozen=True)
class EngineFailed:
    op: str
    code: str
    final: bool = False


Event = Answered | Digit | PromptDone | TimerFired | HungUp | EngineDone | EngineFailed


# --- actions (flow -> adapter) -------------------------------------------
@dataclass(frozen=True)
class Play:
    prompts: tuple[str, ...]
    barge_in: bool = True


@dataclass(frozen=True)
class StopPlaying:
    pass


@dataclass(frozen=True)
class StartTimer:
    name: str
    seconds: float
    serial: int


@dataclass(frozen=True)
class CancelTimer:
    name: str


@dataclass(frozen=True)
class RunEngine:
    op: str  # identify | authenticate | select | preview | replace | provision
    arg: str | None = field(default=None, repr=False)  # the PIN for "authenticate"


@dataclass(frozen=True)
class Hangup:
    pass


@dataclass(frozen=True)
class SendRestart:
    """C-14: the adapter tells the caller's (new) phone to restart."""


Action = Play | StopPlaying | StartTimer | CancelTimer | RunEngine | Hangup | SendRestart


@dataclass(frozen=True)
class Choice:
    """D-4: one old phone of a list, as the engine's ``select`` describes it."""

    name: str
    model: str
    mac: str
    description: str = ""


# Phases: MENU..CONFIRM wait for keys, ENGINE for the engine, CLOSING and SUCCESS for a last prompt.
IDLE, MENU, IDENTIFY, PIN, LIST, CONFIRM = "idle", "menu", "identify", "pin", "list", "confirm"
ENGINE, CLOSING, SUCCESS, DONE, GONE = "engine", "closing", "success", "done", "gone"
LISTENING = frozenset({MENU, IDENTIFY, PIN, LIST, CONFIRM})
DIGIT_TIMER = "digit"
KEYS = frozenset("0123456789*#")


@dataclass(frozen=True)
class State:
    config: FlowConfig
    phase: str = IDLE
    caller_device: str | None = None
    answered_at: float | None = None
    option: str | None = None  # "provision" (A-1 key 1) or "replace" (key 2)
    question: tuple[str, ...] = ()  # what "*" or a timeout replays
    buffer: str = field(default="", repr=False)  # keys so far; may be the PIN
    failures: int = 0  # failed attempts in this call
    playing: bool = False  # a barge-in prompt is playing in a listening phase
    timing: bool = False  # the digit timer runs
    serial: int = 0  # of the latest StartTimer
    pending: str | None = None  # the engine op in flight
    choices: tuple[Choice, ...] = ()
    page: int = 0
    old_phone: str | None = None
    restart_owed: bool = False  # C-14: migrated, SendRestart not sent yet
    ahead: str = field(default="", repr=False)  # keys typed while busy; may be the PIN
    identified: bool = False  # C-13: an extension was accepted in this call


Step = tuple[State, tuple[Action, ...]]

ATTEMPT_CODES = frozenset({"invalid_credentials", "bad_entry"})  # final only as A-4's third strike
CREDENTIAL_OPS = frozenset({"identify", "authenticate"})
MIGRATING_OPS = frozenset({"replace", "provision"})
BUFFERING = frozenset({IDLE, ENGINE})  # busy phases whose keys are kept for later
ABANDONABLE = LISTENING | {ENGINE}  # C-13: phases a caller's hang-up abandons the attempt in


def initial_state(config: FlowConfig | None = None) -> State:
    return State(config=config or FlowConfig())


def step(state: State, event: Event, now: float) -> Step:
    """Feed one event; get the new state and the actions to run, in order.

    ``now`` is the adapter's clock (seconds); timeouts themselves are
    ``StartTimer`` actions, so the rules never read a clock.
    """
    if state.phase == GONE:
        return _after_hangup(state, event)
    if state.phase == DONE and not isinstance(event, HungUp):
        return state, ()
    handler = _ON_EVENT.get(type(event))
    if handler is None:
        return state, ()
    return _type_ahead(*handler(state, event, now))


# --- building blocks -------------------------------------------------------
def _cancel(state: State) -> tuple[Action, ...]:
    return (CancelTimer(DIGIT_TIMER),) if state.timing else ()


def _ask(state: State, phase: str, question: tuple[str, ...], before: tuple[str, ...] = ()) -> Step:
    """Play ``before`` + the question (barge-in) and listen for keys afterwards."""
    ahead = "" if phase == CONFIRM else state.ahead  # A-8, C-15: a yes is never typed ahead
    new = replace(state, phase=phase, question=question, buffer="", ahead=ahead, playing=True, timing=False,
                  pending=None)
    return new, _cancel(state) + (Play(before + question),)


def _run(state: State, op: str, arg: str | None = None) -> Step:
    new = replace(state, phase=ENGINE, pending=op, buffer="", playing=False, timing=False)
    return new, _cancel(state) + (RunEngine(op, arg),)


def _end(state: State, prompts: tuple[str, ...]) -> Step:
    """Say why, say goodbye (no barge-in), then hang up on PromptDone."""
    new = replace(state, phase=CLOSING, buffer="", ahead="", playing=True, timing=False, pending=None)
    return new, _cancel(state) + (Play(prompts + ("goodbye",), barge_in=False),)


def _retry(state: State, reasons: tuple[str, ...], phase: str, question: tuple[str, ...],
           again: tuple[str, ...] = ()) -> Step:
    """A-4: a failed attempt; the third in a call ends it (A-7 advice when about the PIN)."""
    failures = state.failures + 1
    state = replace(state, ahead="")  # the caller hears why before typing on
    if failures >= state.config.max_attempts:
        credential = state.phase in (IDENTIFY, PIN) or state.pending in CREDENTIAL_OPS
        advice = ("forgot_pin",) if credential else ()
        return _end(replace(state, failures=failures), reasons + ("too_many_attempts",) + advice)
    return _ask(replace(state, failures=failures), phase, question, before=reasons + again)


def _identify_question(state: State) -> tuple[str, ...]:
    """S-3."""
    return ("enter_user_id",) if state.config.identification == "self_service_user_id" else ("enter_extension",)


# --- events ------------------------------------------------------------------
def _answered(state: State, event: Answered, now: float) -> Step:
    if state.phase != IDLE:
        return state, ()
    state = replace(state, caller_device=event.caller_device, answered_at=now)
    if event.caller_device is None:  # it can't migrate onto itself
        return _end(state, ("not_a_new_phone",))
    return _ask(state, MENU, ("main_menu",), before=("welcome",))


def _digit(state: State, event: Digit, now: float) -> Step:
    if event.digit not in KEYS:
        return state, ()
    if state.phase in BUFFERING:  # replayed once the flow listens
        if len(state.ahead) >= 2 * state.config.max_digits:
            return state, ()
        return replace(state, ahead=state.ahead + event.digit), ()
    if state.phase not in LISTENING:
        return state, ()  # keys during closing prompts are dropped
    stop: tuple[Action, ...] = ()
    if state.playing:  # barge-in
        state, stop = replace(state, playing=False), (StopPlaying(),)
    state, actions = _ON_DIGIT[state.phase](state, event.digit)
    return state, stop + actions


def _prompt_done(state: State, event: PromptDone, now: float) -> Step:
    if not state.playing:
        return state, ()
    if state.phase == CLOSING:
        return replace(state, phase=DONE, playing=False), (Hangup(),)
    if state.phase == SUCCESS:
        return replace(state, phase=DONE, playing=False, restart_owed=False), (SendRestart(), Hangup())
    serial = state.serial + 1
    new = replace(state, playing=False, timing=True, serial=serial)
    return new, (StartTimer(DIGIT_TIMER, state.config.first_digit_timeout, serial),)


def _timer_fired(state: State, event: TimerFired, now: float) -> Step:
    live = state.phase in LISTENING and state.timing and (event.name, event.serial) == (DIGIT_TIMER, state.serial)
    if not live:
        return state, ()
    reason = "invalid_entry" if state.buffer else "no_input"
    return _retry(replace(state, timing=False), (reason,), state.phase, state.question)


def _hung_up(state: State, event: HungUp, now: float) -> Step:
    restart = (SendRestart(),) if state.restart_owed else ()  # C-14: the migration is done
    keep = state.pending if state.pending in MIGRATING_OPS else None
    abandoned = state.identified and state.phase in ABANDONABLE and state.pending not in MIGRATING_OPS
    record = (RunEngine("abandon", state.option),) if abandoned else ()  # C-13
    new = replace(state, phase=GONE, buffer="", ahead="", playing=False, timing=False, pending=keep,
                  restart_owed=False)
    return new, restart + record


def _type_ahead(state: State, actions: tuple[Action, ...]) -> Step:
    """A-8: once the flow listens again, the keys typed while it was busy, in order.

    They barge in: the question just asked is not played (a barge-in ``Play``
    at the end is dropped), as a caller who typed it already knows it.
    """
    replayed: tuple[Action, ...] = ()
    for _ in range(len(state.ahead)):
        if state.phase not in LISTENING or not state.ahead:
            break
        key, state = state.ahead[0], replace(state, ahead=state.ahead[1:])
        if state.playing:
            last = actions[-1] if actions else None
            dropped = isinstance(last, Play) and last.barge_in
            actions = actions[:-1] if dropped else actions + (StopPlaying(),)
            state = replace(state, playing=False)
        state, more = _ON_DIGIT[state.phase](state, key)
        replayed += more
    superseded = {id(a) for a in [a for a in replayed if isinstance(a, (StartTimer, CancelTimer))][:-1]}
    return state, actions + tuple(a for a in replayed if id(a) not in superseded)  # the last timer action counts


def _after_hangup(state: State, event: Event) -> Step:
    """Nothing reaches the caller now; a migration in flight still restarts the phone."""
    if not isinstance(event, (EngineDone, EngineFailed)) or event.op != state.pending:
        return state, ()
    restart: tuple[Action, ...] = (SendRestart(),) if isinstance(event, EngineDone) else ()
    return replace(state, pending=None), restart


def _engine_done(state: State, event: EngineDone, now: float) -> Step:
    if state.phase != ENGINE or event.op != state.pending:
        return state, ()
    return _ON_ENGINE_DONE[event.op](replace(state, pending=None), event.value)


def _engine_failed(state: State, event: EngineFailed, now: float) -> Step:
    if state.phase != ENGINE or event.op != state.pending:
        return state, ()
    prompts = REFUSAL_PROMPTS.get(event.code, ("error",))
    if event.final and event.code in ATTEMPT_CODES:
        return _end(state, prompts + ("too_many_attempts", "forgot_pin"))
    if event.final or event.op not in CREDENTIAL_OPS:
        return _end(state, prompts)  # retyping can't fix what comes after authentication
    return _retry(state, prompts, IDENTIFY, _identify_question(state), again=("try_again",))


# --- keys, per phase -----------------------------------------------------------
def _menu_key(state: State, key: str) -> Step:
    """A-1: 1 provision (P-1), 2 replace."""
    if key == "*":
        return _ask(state, MENU, state.question)
    if key in ("1", "2"):
        option = "provision" if key == "1" else "replace"
        return _ask(replace(state, option=option), IDENTIFY, _identify_question(state))
    return _retry(state, ("invalid_entry",), MENU, state.question)


def _entry_key(state: State, key: str) -> Step:
    """A-2/A-3: digits up to "#"; "*" starts the entry again."""
    if key == "*":
        return _ask(state, state.phase, state.question)
    if key == "#":
        if state.phase == PIN:  # S-4: an authentication code may have 0 digits
            return _run(state, "authenticate", state.buffer)
        if not state.buffer:
            return _retry(state, ("invalid_entry",), state.phase, state.question)
        return _run(state, "identify", state.buffer)
    buffer = state.buffer + key
    if len(buffer) > state.config.max_digits:
        return _retry(state, ("invalid_entry",), state.phase, state.question)
    serial = state.serial + 1
    new = replace(state, buffer=buffer, timing=True, serial=serial)
    return new, (StartTimer(DIGIT_TIMER, state.config.inter_digit_timeout, serial),)


def _list_key(state: State, key: str) -> Step:
    """D-4: 1-9 picks from this page, "*" turns the page (wrapping)."""
    if key == "*":
        number = next_page(state.choices, state.page)
        return _ask(replace(state, page=number), LIST, page_prompts(state.choices, number))
    chosen = pick(state.choices, state.page, int(key)) if key.isdigit() else None
    if chosen is None:
        return _retry(state, ("invalid_entry",), LIST, state.question)
    name = chosen.name
    return _run(replace(state, old_phone=name), "preview", name)


def _confirm_key(state: State, key: str) -> Step:
    """C-15: 1 goes ahead; any other key ends the call with nothing done."""
    if key == "*":
        return _ask(state, CONFIRM, state.question)
    if key != "1":
        return _end(state, ())
    if state.option == "provision":
        return _run(state, "provision")
    return _run(state, "replace", state.old_phone)


# --- engine answers --------------------------------------------------------------
def _identified(state: State, value: object) -> Step:
    state = replace(state, identified=True)
    if state.config.needs_secret:
        return _ask(state, PIN, ("enter_pin",))
    return _authenticated(state, None)


def _authenticated(state: State, value: object) -> Step:
    if state.option == "provision":
        return _ask(state, CONFIRM, ("confirm",))
    return _run(state, "select")


def _selected(state: State, value: object) -> Step:
    """D-3: one old phone straight to its preview, or a list to choose from."""
    value = value if isinstance(value, Mapping) else {}
    try:
        if value.get("chosen"):
            name = str(value["chosen"]["name"])
            return _run(replace(state, old_phone=name), "preview", name)
        choices = tuple(
            Choice(str(c["name"]), str(c.get("model", "")), str(c.get("mac", "")), str(c.get("description", "")))
            for c in value.get("choices") or ()
        )
    except (KeyError, TypeError, AttributeError):
        choices = ()
    if not choices:
        return _end(state, ("error",))
    return _ask(replace(state, choices=choices, page=0), LIST, page_prompts(choices, 0))


def _previewed(state: State, value: object) -> Step:
    """C-15: what the new phone loses, before the caller confirms."""
    value = value if isinstance(value, Mapping) else {}
    return _ask(state, CONFIRM, preview_prompts(int(value.get("losses") or 0), bool(value.get("kem_moves"))))


def _migrated(state: State, value: object) -> Step:
    """C-14: say so, then restart the phone and hang up once the prompt ends."""
    prompt = "provisioned_restart" if state.option == "provision" else "migrated_restart"
    return replace(state, phase=SUCCESS, playing=True, restart_owed=True), (Play((prompt,), barge_in=False),)


_ON_EVENT: Mapping[type, Callable[[State, Event, float], Step]] = {
    Answered: _answered,
    Digit: _digit,
    PromptDone: _prompt_done,
    TimerFired: _timer_fired,
    HungUp: _hung_up,
    EngineDone: _engine_done,
    EngineFailed: _engine_failed,
}
_ON_DIGIT: Mapping[str, Callable[[State, str], Step]] = {
    MENU: _menu_key,
    IDENTIFY: _entry_key,
    PIN: _entry_key,
    LIST: _list_key,
    CONFIRM: _confirm_key,
}
_ON_ENGINE_DONE: Mapping[str, Callable[[State, object], Step]] = {
    "identify": _identified,
    "authenticate": _authenticated,
    "select": _selected,
    "preview": _previewed,
    "replace": _migrated,
    "provision": _migrated,
}
