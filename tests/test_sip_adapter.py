"""The pjsua2 adapter (ivr.adapter) with fakes: no pjsua2 Endpoint in this process, ever.

A second Endpoint aborts the process (docs/pjsua2.md), so the adapter is
driven through its two small interfaces, ``CallLeg`` and ``Player``, faked
here; time is ``twisted.internet.task.Clock``; the thread pool is a list of
jobs the test runs when it wants. Real SIP is in tests/e2e/test_ivr_*.py.
"""

from __future__ import annotations

import gc
import logging
import weakref
from pathlib import Path
from types import SimpleNamespace

import pytest
from twisted.internet import defer
from twisted.internet.task import Clock

from ivr import adapter, engine, flow
from ivr.adapter import IvrAdapter, PlayError
from ivr.engine import engine_value, run_engine
from ivr.invite import CallerId, parse_invite
from models.rules.outcomes import LINES_TO_KEM, Note
from models.rules.refusals import Refused
from models.rules.selection import Candidate, Selection
from models.rules.settings import SiteSettings

NEW = "SEP00AA11BB22CC"
PIN = "97531"


# --- fakes ----------------------------------------------------------------------------
class FakePlayer:
    def __init__(self, path: str, on_end) -> None:
        self.path = path
        self.name = Path(path).stem
        self.on_end = on_end
        self.closed = False

    def close(self) -> None:
        self.closed = True

    def finish(self) -> None:
        """The file ended: what the pjsua2 player's onEof2 hop delivers on the reactor thread."""
        self.on_end()


class FakeLeg:
    def __init__(self, audio: bool = True) -> None:
        self.serial = 0
        self.audio_ready = audio
        self.responses: list[int] = []
        self.players: list[FakePlayer] = []
        self.stopped: list[FakePlayer] = []
        self.ended = 0
        self.detached = False
        self.adapter: IvrAdapter | None = None  # set: end() behaves like pjsua (DISCONNECTED at once)
        self.unplayable: set[str] = set()

    def respond(self, status: int) -> None:
        self.responses.append(status)

    def play(self, path: str, on_end) -> FakePlayer:
        assert self.audio_ready, "played before the call's audio was up"
        if Path(path).stem in self.unplayable:
            raise PlayError("no such file")
        player = FakePlayer(path, on_end)
        self.players.append(player)
        return player

    def stop(self, player: FakePlayer) -> None:
        assert self.audio_ready, "stopTransmit after DISCONNECTED"
        self.stopped.append(player)

    def end(self) -> None:
        self.ended += 1
        if self.adapter is not None:
            self.hang_up_now()

    def hang_up_now(self) -> None:
        self.audio_ready = False
        self.adapter.disconnected(self.serial)

    def detach(self) -> None:
        self.detached = True

    @property
    def playing(self) -> FakePlayer:
        return self.players[-1]

    def names(self) -> list[str]:
        return [p.name for p in self.players]


class Threads:
    """deferToThread, run when the test says so."""

    def __init__(self) -> None:
        self.jobs: list = []

    def __call__(self, fn, *args) -> defer.Deferred:
        d: defer.Deferred = defer.Deferred()
        self.jobs.append((fn, args, d))
        return d

    def run(self) -> None:
        while self.jobs:
            fn, args, d = self.jobs.pop(0)
            try:
                result = fn(*args)
            except BaseException:
                d.errback()
            else:
                d.callback(result)

    def ops(self) -> list[str]:
        return [args[2] for fn, args, _ in self.jobs if fn is run_engine]


class FakeService:
    def __init__(self, device: str | None = NEW, **settings) -> None:
        self.device = device
        self.site = SiteSettings(**settings)
        self.calls: list[tuple] = []
        self.refuse: dict[str, Refused | Exception] = {}
        self.selection = Selection(chosen=Candidate("SEP001122330033", "Cisco 7841", "Olivia's desk", False))
        self.plan = SimpleNamespace(losses=[], warnings=[])

    def caller_device(self, number, device_name=None, instance=None):
        self.calls.append(("caller_device", number, device_name, instance))
        return self.device

    def settings(self):
        return self.site

    def _op(self, op, attempt, *args):
        self.calls.append((op, attempt.door, attempt.new_device))
        if op in self.refuse:
            raise self.refuse[op]

    def identify(self, attempt, entry):
        self._op("identify", attempt)

    def authenticate(self, attempt, secret):
        self._op("authenticate", attempt)

    def select(self, attempt):
        self._op("select", attempt)
        return self.selection

    def preview(self, attempt, old):
        self._op("preview", attempt)
        return self.plan

    def replace(self, attempt, old):
        self._op("replace", attempt)
        return SimpleNamespace(new_device=attempt.new_device)

    def abandon(self, attempt, action):
        self._op("abandon", attempt)

    def provision(self, attempt):
        self._op("provision", attempt)
        return attempt.new_device


class Rig:
    def __init__(self, service: FakeService | None = None, **adapter) -> None:
        self.clock = Clock()
        self.threads = Threads()
        self.service = service or FakeService()
        self.restarted: list[str] = []
        self.adapter = IvrAdapter(self.service, self.clock, in_thread=self.threads, restart=self.restarted.append,
                                  **adapter)

    def call(self, caller: CallerId = CallerId("9000"), *, audio: bool = True, confirm: bool = True) -> FakeLeg:
        leg = FakeLeg(audio)
        leg.adapter = self.adapter
        self.adapter.incoming(leg, caller)
        self.threads.run()  # the caller_device lookup
        if confirm:
            self.adapter.confirmed(leg.serial)
        return leg

    def keys(self, leg: FakeLeg, keys: str) -> None:
        for key in keys:
            self.adapter.digit(leg.serial, key)

    def finish_prompts(self, leg: FakeLeg, limit: int = 100) -> list[str]:
        """Let every prompt of the current sequence play to its end."""
        heard = []
        for _ in range(limit):
            player = leg.playing if leg.players else None
            if player is None or player.closed:
                return heard
            heard.append(player.name)
            player.finish()
        raise AssertionError("prompts never ended")

    def session(self, leg: FakeLeg) -> adapter.CallSession:
        return self.adapter.sessions[leg.serial]

    def phase(self, leg: FakeLeg) -> str:
        return self.session(leg).state.phase

    def logged_in(self, leg: FakeLeg, option: str = "2") -> None:
        self.keys(leg, option + "1012#")
        self.threads.run()  # identify
        self.keys(leg, PIN + "#")


# --- who is calling -------------------------------------------------------------------
CISCO_INVITE = (
    "INVITE sip:8000@10.0.0.5:5060 SIP/2.0\r\n"
    "Via: SIP/2.0/TCP 10.0.0.20:51234;branch=z9hG4bK1\r\n"
    'From: "Auto 9000" <sip:9000@10.0.0.5>;tag=abc\r\n'
    "To: <sip:8000@10.0.0.5>\r\n"
    "Call-ID: 1-2@10.0.0.20\r\n"
    "CSeq: 101 INVITE\r\n"
    'Contact: <sip:9000@10.0.0.20:51234;transport=tcp>;+u.sip!devicename.ccm.cisco.com="SEP9C57AD12A4E0";\r\n'
    ' +sip.instance="<urn:uuid:00000000-0000-0000-0000-9c57ad12a4e0>";+u.sip!model.ccm.cisco.com="684"\r\n'
    "Content-Length: 0\r\n\r\n"
)


def test_caller_id_from_a_cisco_invite():
    assert parse_invite(CISCO_INVITE) == CallerId(
        "9000", "SEP9C57AD12A4E0", "<urn:uuid:00000000-0000-0000-0000-9c57ad12a4e0>")


def test_caller_id_compact_headers_and_no_cisco_parameters():
    message = "INVITE sip:8000@h SIP/2.0\nf: sip:%2B4930123@h;tag=1\nm: <sip:x@h>\nl: 0\n\n"
    assert parse_invite(message) == CallerId("+4930123", None, None)
    assert parse_invite("") == CallerId()


def test_caller_id_ignores_parameters_in_the_body():
    message = CISCO_INVITE.replace("Content-Length: 0\r\n\r\n", "Content-Length: 60\r\n\r\nContact: <sip:1@h>;+u.sip!devicename.ccm.cisco.com=\"SEPFFFFFFFFFFFF\"")
    assert parse_invite(message).device_name == "SEP9C57AD12A4E0"


# --- answering ------------------------------------------------------------------------
def test_looks_up_the_caller_in_a_thread_then_answers_200():
    rig = Rig()
    leg = FakeLeg()
    rig.adapter.incoming(leg, CallerId("9000", "SEP00AA11BB22CC", "<urn:uuid:x>"))
    assert leg.serial == 1 and leg.responses == []  # I-9: pjsip's own 100 Trying, no 180
    assert rig.service.calls == []  # nothing on the reactor thread
    rig.threads.run()
    assert rig.service.calls == [("caller_device", "9000", "SEP00AA11BB22CC", "<urn:uuid:x>")]
    assert leg.responses == [200] and leg.players == []
    rig.adapter.confirmed(leg.serial)
    assert leg.names() == ["welcome"]
    assert rig.session(leg).attempt.door == "ivr" and rig.session(leg).attempt.new_device == NEW


def test_serials_are_the_adapters_own():
    rig = Rig()
    first, second = rig.call(), rig.call()
    assert (first.serial, second.serial) == (1, 2)


def test_unknown_caller_still_answered_flow_decides():
    rig = Rig(FakeService(device=None))
    leg = rig.call()
    assert leg.responses == [200]
    assert rig.finish_prompts(leg) == ["not_a_new_phone", "goodbye"]
    assert leg.ended == 1


def test_lookup_failure_answers_500():
    rig = Rig()
    rig.service.caller_device = lambda *a: (_ for _ in ()).throw(RuntimeError("database is down"))
    leg = rig.call(confirm=False)
    assert leg.responses == [500]


def test_caller_gone_before_the_lookup_finished_is_not_answered():
    rig = Rig()
    leg = FakeLeg()
    rig.adapter.incoming(leg, CallerId("9000"))
    rig.adapter.disconnected(leg.serial)
    rig.threads.run()
    assert leg.responses == []
    rig.clock.advance(0)
    assert leg.detached and rig.adapter.sessions == {}


def test_flow_config_follows_the_site_settings():
    rig = Rig(FakeService(authentication="none", identification="self_service_user_id", session_attempts=5),
              first_digit_timeout=2.0, inter_digit_timeout=1.0)
    leg = rig.call()
    config = rig.session(leg).state.config
    assert config == flow.FlowConfig(needs_secret=False, identification="self_service_user_id", max_attempts=5,
                                     first_digit_timeout=2.0, inter_digit_timeout=1.0)


def test_language_is_the_first_configured_one_with_recordings():
    rig = Rig(FakeService(ivr_languages=["fr-CA", "en"]))
    leg = rig.call()
    assert Path(leg.playing.path).parent.name == "fr"


def test_play_waits_for_the_calls_audio():
    rig = Rig()
    leg = rig.call(audio=False)
    assert leg.players == []
    leg.audio_ready = True
    rig.adapter.media_ready(leg.serial)
    assert leg.names() == ["welcome"]


# --- prompts ----------------------------------------------------------------------------
def test_a_sequence_plays_one_player_per_file_then_prompt_done():
    rig = Rig()
    leg = rig.call()
    welcome = leg.playing
    welcome.finish()
    assert leg.names() == ["welcome", "main_menu"]
    assert welcome.closed and leg.stopped == [welcome]
    assert rig.clock.getDelayedCalls() and all(c.getTime() == adapter.RELEASE_AFTER for c in rig.clock.getDelayedCalls())
    leg.playing.finish()  # the sequence ended by itself: PromptDone -> the first-digit timer
    timers = [c for c in rig.clock.getDelayedCalls() if c.getTime() == 5.0]
    assert len(timers) == 1


def test_barge_in_stops_the_sequence_and_no_prompt_done_follows():
    rig = Rig()
    leg = rig.call()
    welcome = leg.playing
    rig.keys(leg, "2")
    assert welcome.closed and leg.stopped == [welcome]
    assert leg.names() == ["welcome", "enter_extension"]  # main_menu never started
    welcome.finish()  # a late end-of-file from the stopped player
    assert leg.names() == ["welcome", "enter_extension"] and not leg.playing.closed
    assert rig.phase(leg) == flow.IDENTIFY and not rig.session(leg).state.timing


def test_a_newer_play_replaces_the_current_sequence():
    rig = Rig()
    leg = rig.call()
    rig.finish_prompts(leg)
    rig.keys(leg, "7")  # invalid entry: a new Play while nothing plays
    assert leg.names()[-1] == "invalid_entry"
    first = leg.playing
    rig.keys(leg, "*")  # barge-in + replay of the question
    assert first.closed and leg.names()[-1] == "main_menu"
    first.finish()
    assert leg.names()[-1] == "main_menu" and not leg.playing.closed


def test_stopped_players_are_released_later_on_the_reactor_thread():
    rig = Rig()
    leg = rig.call()
    alive = weakref.ref(leg.players[0])
    rig.keys(leg, "2")
    leg.players.clear()
    leg.stopped.clear()
    gc.collect()
    assert alive() is not None  # kept: never the last reference on a pjmedia thread
    rig.clock.advance(adapter.RELEASE_AFTER)
    gc.collect()
    assert alive() is None


def test_unplayable_files_are_skipped_and_the_sequence_still_ends():
    rig = Rig()
    leg = FakeLeg()
    leg.unplayable = {"welcome"}
    rig.adapter.incoming(leg, CallerId("9000"))
    rig.threads.run()
    rig.adapter.confirmed(leg.serial)
    assert leg.names() == ["main_menu"]
    leg.unplayable = {"no_input", "main_menu"}
    leg.playing.finish()
    rig.clock.advance(5.0)  # no key: the flow plays no_input + main_menu, neither playable
    assert rig.session(leg).state.timing  # PromptDone came at once: the next timer runs


def test_missing_prompt_name_is_skipped(caplog):
    rig = Rig()
    leg = rig.call()
    session = rig.session(leg)
    with caplog.at_level(logging.WARNING, logger="phone_migration"):
        rig.adapter._play(session, ("no_such_prompt", "goodbye"))
    assert leg.names()[-1] == "goodbye"
    assert any(r.getMessage() == "ivr_prompt_missing" for r in caplog.records)


# --- timers -------------------------------------------------------------------------------
def test_first_digit_timeout_replays_the_question():
    rig = Rig()
    leg = rig.call()
    rig.finish_prompts(leg)
    rig.clock.advance(4.9)
    assert leg.names() == ["welcome", "main_menu"]
    rig.clock.advance(0.1)
    assert rig.session(leg).state.failures == 1
    assert rig.finish_prompts(leg) == ["no_input", "main_menu"]


def test_each_key_restarts_the_inter_digit_timer():
    rig = Rig()
    leg = rig.call()
    rig.keys(leg, "2")
    rig.finish_prompts(leg)
    rig.keys(leg, "1")
    rig.clock.advance(2.5)
    rig.keys(leg, "0")
    rig.clock.advance(2.5)  # 5 s after the first key, 2.5 s after the last: still waiting
    assert rig.phase(leg) == flow.IDENTIFY and rig.session(leg).state.buffer == "10"
    rig.clock.advance(0.5)
    assert rig.session(leg).timers == {}  # fired; the next one starts when the prompt ends
    assert rig.finish_prompts(leg) == ["invalid_entry", "enter_extension"]


def test_pound_cancels_the_timer_and_runs_the_engine_in_a_thread():
    rig = Rig()
    leg = rig.call()
    rig.keys(leg, "21012#")
    assert rig.threads.ops() == ["identify"]
    assert rig.session(leg).timers == {}
    rig.clock.advance(60)
    assert rig.phase(leg) == flow.ENGINE  # no timer fires while the engine works


def test_three_silences_end_the_call_with_a_hangup():
    rig = Rig()
    leg = rig.call()
    for _ in range(3):
        rig.finish_prompts(leg)
        rig.clock.advance(5.0)
    assert rig.finish_prompts(leg) == ["no_input", "too_many_attempts", "goodbye"]
    assert leg.ended == 1
    rig.clock.advance(adapter.RELEASE_AFTER)
    assert rig.adapter.sessions == {} and leg.detached and rig.adapter.idle()


# --- the engine -------------------------------------------------------------------------
def test_replace_with_one_old_phone_then_restart_and_hangup():
    rig = Rig()
    leg = rig.call()
    rig.logged_in(leg)
    rig.threads.run()  # authenticate, select, preview
    assert [c[0] for c in rig.service.calls[1:]] == ["identify", "authenticate", "select", "preview"]
    assert leg.names()[-1] == "confirm"
    rig.keys(leg, "1")
    rig.threads.run()
    assert rig.finish_prompts(leg) == ["migrated_restart"]
    assert leg.ended == 1
    assert rig.threads.jobs and rig.restarted == []  # C-14 off the reactor thread
    rig.threads.run()
    assert rig.restarted == [NEW]


def test_select_with_a_list_reads_model_and_mac():
    rig = Rig()
    rig.service.selection = Selection(choices=(
        Candidate("SEP001122330015", "Cisco 7861", "Erin's 7861", True),
        Candidate("SEP0011223300A6", "Cisco 8841", "Erin's 8841", False),
    ))
    leg = rig.call()
    rig.logged_in(leg)
    rig.threads.run()
    heard = rig.finish_prompts(leg)
    assert heard[:12] == ["choose_phone", "for_model", "digit_7", "digit_8", "digit_6", "digit_1",
                          "mac_ending", "digit_0", "digit_0", "digit_1", "digit_5", "press"]
    assert "letter_a" in heard and rig.phase(leg) == flow.LIST
    rig.keys(leg, "2")
    assert rig.threads.jobs[-1][1][2:] == ("preview", "SEP0011223300A6")


def test_engine_values_are_plain_data():
    chosen = Candidate("SEP001122330033", "Cisco 7841", "desk", False)
    assert engine_value("select", Selection(chosen=chosen)) == {
        "chosen": {"name": "SEP001122330033", "model": "Cisco 7841", "mac": "001122330033", "description": "desk"}}
    listed = engine_value("select", Selection(choices=(chosen, chosen)))
    assert listed == {"choices": [engine_value("select", Selection(chosen=chosen))["chosen"]] * 2}
    plan = SimpleNamespace(losses=["a", "b"], warnings=[Note(LINES_TO_KEM, "Your new phone has 5 line keys; 2 lines will move to the KEM")])
    assert engine_value("preview", plan) == {"losses": 2, "kem_moves": True}
    assert engine_value("preview", SimpleNamespace(losses=[], warnings=["x"])) == {"losses": 0, "kem_moves": False}
    assert engine_value("identify", None) is None


def test_preview_losses_are_announced():
    rig = Rig()
    rig.service.plan = SimpleNamespace(losses=["x"] * 3, warnings=[Note(LINES_TO_KEM, "2 lines will move to the KEM")])
    leg = rig.call()
    rig.logged_in(leg)
    rig.threads.run()
    assert rig.finish_prompts(leg) == ["losses_intro", "digit_3", "lines_to_kem", "confirm"]


def test_refusal_becomes_engine_failed_with_code_and_final():
    rig = Rig()
    rig.service.refuse["authenticate"] = Refused("invalid_credentials", "The extension or PIN is not valid")
    leg = rig.call()
    rig.logged_in(leg)
    rig.threads.run()
    assert rig.finish_prompts(leg) == ["invalid_credentials", "try_again", "enter_extension"]
    assert rig.session(leg).state.failures == 1
    rig.service.refuse["authenticate"] = Refused("locked", "locked", final=True)
    rig.keys(leg, "1012#")
    rig.threads.run()
    rig.keys(leg, PIN + "#")
    rig.threads.run()
    assert rig.finish_prompts(leg) == ["locked", "forgot_pin", "goodbye"] and leg.ended == 1


def test_unexpected_engine_error_ends_the_call_politely():
    rig = Rig()
    rig.service.refuse["select"] = RuntimeError("database is locked")
    leg = rig.call()
    rig.logged_in(leg)
    rig.threads.run()
    assert rig.finish_prompts(leg) == ["error", "goodbye"] and leg.ended == 1


def test_a8_keys_during_engine_work_are_typed_ahead():
    """A-8: keys pressed while identify runs become the start of the PIN; its question is not played."""
    rig = Rig()
    leg = rig.call()
    rig.keys(leg, "21012#")
    rig.keys(leg, "999")
    rig.threads.run()
    assert rig.phase(leg) == flow.PIN and rig.session(leg).state.buffer == "999"
    assert "enter_pin" not in leg.names()


def test_hangup_during_the_migration_still_restarts_the_phone():
    rig = Rig()
    leg = rig.call()
    rig.logged_in(leg)
    rig.threads.run()
    rig.keys(leg, "1")  # replace is now in a thread
    leg.hang_up_now()
    rig.clock.advance(0)
    assert leg.detached and leg.serial in rig.adapter.sessions  # kept for the engine's answer
    assert not rig.adapter.idle()
    rig.threads.run()  # the migration completes, then the restart runs (in a thread too)
    assert rig.restarted == [NEW] and leg.ended == 0
    assert rig.adapter.sessions == {}


def test_hangup_during_authentication_drops_everything():
    rig = Rig()
    leg = rig.call()
    rig.logged_in(leg)
    leg.hang_up_now()
    rig.clock.advance(0)
    rig.threads.run()  # authenticate answers into a gone call
    assert rig.threads.jobs == [] and rig.restarted == []
    assert rig.adapter.sessions == {} and rig.adapter.idle()


def test_hangup_while_a_prompt_plays_never_stops_it_on_the_gone_call():
    rig = Rig()
    leg = rig.call()
    welcome = leg.playing
    leg.hang_up_now()
    assert welcome.closed and leg.stopped == []  # no stopTransmit after DISCONNECTED
    welcome.finish()
    assert leg.names() == ["welcome"]


def test_hangup_cancels_timers():
    rig = Rig()
    leg = rig.call()
    rig.finish_prompts(leg)
    assert rig.session(leg).timers
    leg.hang_up_now()
    assert rig.session(leg).timers == {}
    rig.clock.advance(10)
    assert leg.names() == ["welcome", "main_menu"]


def test_hangup_in_the_middle_of_the_pin():
    rig = Rig()
    leg = rig.call()
    rig.keys(leg, "21012#")
    rig.threads.run()
    rig.keys(leg, "97")
    leg.hang_up_now()
    rig.clock.advance(10)
    rig.threads.run()  # C-13: the abandoned attempt is recorded, off the reactor thread
    assert rig.threads.jobs == [] and [c[0] for c in rig.service.calls] == ["caller_device", "identify", "abandon"]
    assert rig.adapter.sessions == {}


def test_provision_restarts_the_phone():
    rig = Rig()
    leg = rig.call()
    rig.logged_in(leg, option="1")
    rig.threads.run()
    assert leg.names()[-1] == "confirm"
    rig.keys(leg, "1")
    rig.threads.run()
    assert rig.finish_prompts(leg) == ["provisioned_restart"]
    rig.threads.run()
    assert rig.restarted == [NEW] and leg.ended == 1


def test_run_engine_calls_the_service_with_the_calls_attempt():
    service = FakeService()
    attempt = adapter.Attempt(door="ivr", new_device=NEW)
    assert run_engine(service, attempt, "identify", "1012") is None
    assert run_engine(service, attempt, "replace", "SEP001122330033") == {"new_device": NEW}
    with pytest.raises(ValueError):
        run_engine(service, attempt, "format_disk", None)


# --- draining and shutdown ------------------------------------------------------------------
def test_draining_answers_503_and_lets_calls_finish():
    rig = Rig()
    busy = rig.call()
    rig.adapter.stop_accepting()
    late = FakeLeg()
    late.adapter = rig.adapter
    rig.adapter.incoming(late, CallerId("9001"))
    assert late.responses == [503] and rig.threads.jobs == []
    late.hang_up_now()  # pjsua reports the refused call DISCONNECTED
    rig.clock.advance(0)
    assert list(rig.adapter.sessions) == [busy.serial] and not rig.adapter.idle()
    busy.hang_up_now()
    rig.clock.advance(0)
    assert rig.adapter.idle()


def test_close_forgets_every_call_and_player():
    rig = Rig()
    legs = [rig.call(), rig.call()]
    rig.keys(legs[0], "2")
    rig.adapter.close()
    assert rig.adapter.sessions == {} and all(leg.detached for leg in legs)
    assert all(p.closed for leg in legs for p in leg.players)
    assert rig.adapter._graveyard == {}


# --- re-entrancy and A-6 -------------------------------------------------------------------------
def test_disconnect_inside_hangup_is_handled_after_the_current_actions():
    rig = Rig(FakeService(device=None))
    leg = rig.call()  # leg.end() calls disconnected() synchronously, like pjsua may
    rig.finish_prompts(leg)
    assert leg.ended == 1 and rig.session(leg).state.phase == flow.GONE


def test_a6_no_digit_of_the_pin_reaches_the_log(caplog):
    rig = Rig()
    with caplog.at_level(logging.DEBUG):
        leg = rig.call()
        rig.logged_in(leg)
        rig.threads.run()
        rig.keys(leg, "1")
        rig.threads.run()
        rig.finish_prompts(leg)
        rig.threads.run()
    clocks = {"created", "msecs", "relativeCreated", "thread", "process"}  # numbers that may hold "97531" by chance
    text = "\n".join(repr({k: v for k, v in vars(r).items() if k not in clocks}) for r in caplog.records)
    assert "ivr_engine" in text and PIN not in text and "1012#" not in text


# --- the real engine's answers, translated ------------------------------------------------
@pytest.fixture(scope="module")
def demo_service(tmp_path_factory):
    from models.services.demo import load_demo
    from models.services.migration import Migrator
    from models.services.selfservice import SelfService
    from models.storage.database import Database

    db = Database(f"sqlite:///{tmp_path_factory.mktemp('ivr') / 'demo.db'}")
    db.create_all()
    with db.session() as session:
        load_demo(session)
    yield SelfService(Migrator(db))
    db.dispose()


def test_run_engine_on_the_demo_site(demo_service):
    attempt = adapter.Attempt(door="ivr", new_device=demo_service.caller_device("9000"))
    assert attempt.new_device == NEW
    assert run_engine(demo_service, attempt, "identify", "1001") is None
    assert run_engine(demo_service, attempt, "authenticate", "7314") is None
    selected = run_engine(demo_service, attempt, "select", None)
    assert selected == {"chosen": {"name": "SEP001122330001", "model": "Cisco 7965", "mac": "001122330001",
                                   "description": "Alice's desk (old 7965)"}}
    preview = run_engine(demo_service, attempt, "preview", "SEP001122330001")
    assert preview["kem_moves"] is True and preview["losses"] >= 1  # 7 lines on 5 keys; the intercom line stays


def test_run_engine_list_and_refusal_on_the_demo_site(demo_service):
    attempt = adapter.Attempt(door="ivr", new_device=NEW)
    run_engine(demo_service, attempt, "identify", "1005")
    run_engine(demo_service, attempt, "authenticate", "3851")
    choices = run_engine(demo_service, attempt, "select", None)["choices"]
    assert [c["name"] for c in choices] == ["SEP001122330015", "SEP001122330016", "SEP001122330017"]
    assert all(set(c) == {"name", "model", "mac", "description"} for c in choices)
    with pytest.raises(Refused) as refused:
        run_engine(demo_service, adapter.Attempt(door="ivr", new_device=NEW), "authenticate", "0000")
    assert engine.engine_failure("authenticate", engine.Failure(refused.value)) == flow.EngineFailed(
        "authenticate", refused.value.code, refused.value.final)
