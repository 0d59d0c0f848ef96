"""The IVR flow as a pure state machine: A-1..A-7, S-3, S-4, D-3, D-4, P-1, C-14, C-15.

No network and no reactor: a ``Call`` feeds events with an increasing fake
``now`` and keeps every state and action it saw.
"""

from __future__ import annotations

import ast
import dataclasses
from pathlib import Path

import pytest

from ivr import flow
from ivr.flow import (
    Answered,
    CancelTimer,
    Digit,
    EngineDone,
    EngineFailed,
    FlowConfig,
    Hangup,
    HungUp,
    Play,
    PromptDone,
    RunEngine,
    SendRestart,
    StartTimer,
    StopPlaying,
    TimerFired,
    initial_state,
    step,
)

NEW = "SEP00AA11BB22CC"
PIN = "97531"


class Call:
    """One call driven through ``step``; ``now`` moves on one second per event."""

    def __init__(self, **config):
        self.state = initial_state(FlowConfig(**config))
        self.now = 1000.0
        self.states = [self.state]
        self.actions: list[flow.Action] = []

    def send(self, event) -> tuple:
        self.now += 1.0
        self.state, actions = step(self.state, event, self.now)
        assert isinstance(actions, tuple)
        self.states.append(self.state)
        self.actions.extend(actions)
        return actions

    def keys(self, keys: str) -> tuple:
        out: tuple = ()
        for key in keys:
            out += self.send(Digit(key))
        return out

    def done(self) -> tuple:
        return self.send(PromptDone())

    def timer(self) -> StartTimer:
        """The live digit timer, from the last StartTimer sent."""
        return [a for a in self.actions if isinstance(a, StartTimer)][-1]


def plays(actions) -> list[tuple[str, ...]]:
    return [a.prompts for a in actions if isinstance(a, Play)]


def engine(actions) -> list[RunEngine]:
    return [a for a in actions if isinstance(a, RunEngine)]


def answered(**config) -> Call:
    call = Call(**config)
    assert call.send(Answered(NEW)) == (Play(("welcome", "main_menu")),)
    return call


def logged_in(option: str = "2", **config) -> Call:
    """Menu choice, extension 1001, PIN accepted."""
    call = answered(**config)
    call.keys(option)
    assert call.keys("1001#")[-1] == RunEngine("identify", "1001")
    call.send(EngineDone("identify", None))
    assert call.keys(PIN + "#")[-1] == RunEngine("authenticate", PIN)
    return call


def choice(name: str, model: str = "Cisco 7965") -> dict:
    return {"name": name, "model": model, "mac": name[3:], "description": f"desk {name}"}


# --- A-1 -------------------------------------------------------------------------
def test_a1_answer_greets_and_offers_both_choices():
    call = answered()
    assert call.state.phase == flow.MENU and call.state.caller_device == NEW
    assert call.state.answered_at == 1001.0
    assert call.done() == (StartTimer("digit", 5.0, 1),)


def test_a1_key_1_provisions_key_2_replaces():
    for key, option in (("1", "provision"), ("2", "replace")):
        call = answered()
        call.done()
        assert call.keys(key) == (CancelTimer("digit"), Play(("enter_extension",)))
        assert call.state.option == option and call.state.phase == flow.IDENTIFY


def test_a1_other_key_is_invalid_entry_and_counts():
    call = answered()
    call.done()
    assert call.keys("7") == (CancelTimer("digit"), Play(("invalid_entry", "main_menu")))
    assert call.state.failures == 1 and call.state.phase == flow.MENU


def test_a1_unknown_caller_cannot_migrate_onto_itself():
    call = Call()
    assert call.send(Answered(None)) == (Play(("not_a_new_phone", "goodbye"), barge_in=False),)
    assert call.keys("2") == ()  # no barge-in on the way out
    assert call.done() == (Hangup(),)
    assert call.send(EngineDone("identify", None)) == () and call.done() == ()


def test_a1_events_before_answer_and_second_answer_ignored():
    call = Call()
    assert call.keys("1") == () and call.done() == ()
    answered_call = answered()
    assert answered_call.send(Answered(NEW)) == ()


# --- A-2, S-3, S-4 ---------------------------------------------------------------
def test_a2_extension_is_keyed_up_to_pound():
    call = answered()
    call.keys("2")
    call.done()
    assert call.keys("1") == (StartTimer("digit", 3.0, 2),)
    assert call.keys("00") == (StartTimer("digit", 3.0, 3), StartTimer("digit", 3.0, 4))
    assert call.keys("1#") == (StartTimer("digit", 3.0, 5), CancelTimer("digit"), RunEngine("identify", "1001"))
    assert call.state.phase == flow.ENGINE and call.state.pending == "identify"
    assert call.send(EngineDone("identify", None)) == (Play(("enter_pin",)),)


def test_s3_self_service_user_id_asks_for_user_id():
    call = answered(identification="self_service_user_id")
    assert call.keys("2") == (StopPlaying(), Play(("enter_user_id",)))


def test_s4_no_secret_skips_enter_pin():
    call = answered(needs_secret=False)
    call.keys("2")
    call.keys("1001#")
    actions = call.send(EngineDone("identify", None))
    assert actions == (RunEngine("select"),)
    assert "enter_pin" not in [p for a in plays(call.actions) for p in a]


def test_s4_empty_authentication_code_still_goes_to_the_engine():
    """S-4: the authentication code has 0 to 20 digits."""
    call = answered()
    call.keys("2")
    call.keys("1001#")
    call.send(EngineDone("identify", None))
    assert call.keys("#") == (StopPlaying(), RunEngine("authenticate", ""))


def test_a2_empty_extension_is_invalid_entry():
    call = answered()
    call.keys("2")
    assert call.keys("#") == (StopPlaying(), Play(("invalid_entry", "enter_extension")))
    assert call.state.failures == 1


def test_a2_entry_longer_than_max_digits_is_invalid():
    call = answered(max_digits=4)
    call.keys("2")
    call.keys("1234")
    assert call.keys("5") == (CancelTimer("digit"), Play(("invalid_entry", "enter_extension")))
    assert call.state.failures == 1 and call.state.buffer == ""
    assert engine(call.actions) == []


def test_a2_barge_in_stops_the_prompt_before_handling_the_key():
    call = answered()
    assert call.keys("2") == (StopPlaying(), Play(("enter_extension",)))
    assert call.keys("1") == (StopPlaying(), StartTimer("digit", 3.0, 1))
    assert not call.state.playing


def test_a2_star_repeats_the_question_and_clears_the_entry():
    call = answered()
    call.keys("2")
    call.done()
    call.keys("10")
    assert call.keys("*") == (CancelTimer("digit"), Play(("enter_extension",)))
    assert call.state.buffer == "" and call.state.failures == 0
    call.keys("2002#")
    assert engine(call.actions) == [RunEngine("identify", "2002")]


def test_a2_star_at_main_menu_repeats_it_without_welcome():
    call = answered()
    assert call.keys("*") == (StopPlaying(), Play(("main_menu",)))


def test_a2_keys_while_the_engine_works_are_dropped():
    call = answered()
    call.keys("2")
    call.keys("1001#")
    assert call.keys("55#") == ()
    assert call.send(TimerFired("digit", call.state.serial)) == ()


# --- A-4 timeouts ---------------------------------------------------------------
def test_a4_first_digit_timeout_replays_the_question_and_counts():
    call = answered()
    call.keys("2")
    assert call.done() == (StartTimer("digit", 5.0, 1),)
    assert call.send(TimerFired("digit", 1)) == (Play(("no_input", "enter_extension")),)
    assert call.state.failures == 1 and call.state.phase == flow.IDENTIFY
    assert call.done() == (StartTimer("digit", 5.0, 2),)


def test_a4_inter_digit_timeout_with_a_partial_entry_is_invalid():
    call = answered()
    call.keys("2")
    call.done()
    call.keys("10")
    live = call.timer()
    assert live.seconds == 3.0
    assert call.send(TimerFired("digit", live.serial)) == (Play(("invalid_entry", "enter_extension")),)
    assert call.state.buffer == "" and call.state.failures == 1


def test_a4_stale_timer_is_ignored():
    call = answered()
    call.keys("2")
    call.done()
    first = call.timer()
    call.keys("1")
    assert call.send(TimerFired("digit", first.serial)) == ()
    assert call.send(TimerFired("other", call.timer().serial)) == ()
    assert call.state.buffer == "1" and call.state.failures == 0
    call.keys("*")  # the prompt plays again: no timer runs while it plays
    assert call.send(TimerFired("digit", call.timer().serial)) == ()


def test_a4_three_timeouts_end_the_call():
    call = answered()
    for _ in range(2):
        call.done()
        assert call.send(TimerFired("digit", call.timer().serial)) == (Play(("no_input", "main_menu")),)
    call.done()
    ending = call.send(TimerFired("digit", call.timer().serial))
    assert ending == (Play(("no_input", "too_many_attempts", "goodbye"), barge_in=False),)
    assert call.done() == (Hangup(),)


def test_a4_timeouts_and_wrong_keys_add_up_in_one_call():
    call = answered()
    call.keys("9")  # 1
    call.keys("2")
    call.done()
    call.send(TimerFired("digit", call.timer().serial))  # 2
    call.keys("1001#")
    call.send(EngineDone("identify", None))
    call.keys("1111#")
    ending = call.send(EngineFailed("authenticate", "invalid_credentials", False))  # 3
    assert ending == (Play(("invalid_credentials", "too_many_attempts", "forgot_pin", "goodbye"), barge_in=False),)


# --- wrong PINs --------------------------------------------------------
def test_a4_wrong_pin_twice_then_right():
    call = answered()
    call.keys("2")
    for attempt in (1, 2):
        call.keys("1001#")
        call.send(EngineDone("identify", None))
        call.keys("1111#")
        retry = call.send(EngineFailed("authenticate", "invalid_credentials", False))
        assert retry == (Play(("invalid_credentials", "try_again", "enter_extension")),)
        assert call.state.failures == attempt and call.state.phase == flow.IDENTIFY
    call.keys("1001#")
    call.send(EngineDone("identify", None))
    call.keys(PIN + "#")
    assert call.send(EngineDone("authenticate", None)) == (RunEngine("select"),)


def test_a4_third_wrong_pin_ends_the_call():
    call = answered()
    call.keys("2")
    for _ in range(2):
        call.keys("1001#")
        call.send(EngineDone("identify", None))
        call.keys("1111#")
        call.send(EngineFailed("authenticate", "invalid_credentials", False))
    call.keys("1001#")
    call.send(EngineDone("identify", None))
    call.keys("1111#")
    ending = call.send(EngineFailed("authenticate", "invalid_credentials", True))
    assert ending == (Play(("invalid_credentials", "too_many_attempts", "forgot_pin", "goodbye"), barge_in=False),)
    assert call.keys("1") == ()
    assert call.done() == (Hangup(),)
    assert len(engine(call.actions)) == 6


def test_a4_final_from_the_engine_ends_even_on_the_first_failure():
    call = answered()
    call.keys("2")
    call.keys("1001#")
    ending = call.send(EngineFailed("identify", "bad_entry", True))
    assert ending == (Play(("invalid_entry", "too_many_attempts", "forgot_pin", "goodbye"), barge_in=False),)


def test_a5_bad_entry_from_the_engine_is_a_retry():
    call = answered()
    call.keys("2")
    call.keys("1001#")
    retry = call.send(EngineFailed("identify", "bad_entry", False))
    assert retry == (Play(("invalid_entry", "try_again", "enter_extension")),)


def test_a7_locked_user_hears_locked_and_what_to_do():
    call = answered()
    call.keys("2")
    call.keys("1001#")
    call.send(EngineDone("identify", None))
    call.keys("1111#")
    ending = call.send(EngineFailed("authenticate", "locked", True))
    assert ending == (Play(("locked", "forgot_pin", "goodbye"), barge_in=False),)
    assert call.done() == (Hangup(),)


@pytest.mark.parametrize(
    "code,prompts",
    [
        ("no_old_phone", ("no_old_phone",)),
        ("old_phone_registered", ("old_phone_registered",)),
        ("dn_in_several_partitions", ("dn_in_several_partitions",)),
        ("not_a_new_phone", ("not_a_new_phone",)),
        ("unknown_caller", ("unknown_caller",)),
        ("not_allowed", ("not_allowed",)),
        ("phone_limit", ("phone_limit",)),
        ("owned_by_other", ("owned_by_other",)),
        ("being_migrated", ("being_migrated",)),
        ("already_migrated", ("already_migrated",)),
        ("no_user", ("no_user",)),
        ("locked", ("locked", "forgot_pin")),
        ("not_a_candidate", ("not_a_candidate",)),
        ("something_new", ("error",)),
    ],
)
def test_d3_p1_c12_each_final_refusal_plays_its_prompt_then_goodbye(code, prompts):
    call = logged_in()
    call.send(EngineDone("authenticate", None))
    ending = call.send(EngineFailed("select", code, True))
    assert ending == (Play(prompts + ("goodbye",), barge_in=False),)
    assert call.done() == (Hangup(),)
    assert SendRestart() not in call.actions


def test_c12_refusal_after_authentication_ends_even_when_not_final():
    """Retyping the extension can't help a phone that is being migrated."""
    call = logged_in()
    call.send(EngineDone("authenticate", None))
    call.send(EngineDone("select", {"chosen": choice("SEP001122334455")}))
    call.send(EngineDone("preview", {"losses": 0, "kem_moves": False}))
    call.keys("1")
    ending = call.send(EngineFailed("replace", "being_migrated", False))
    assert ending == (Play(("being_migrated", "goodbye"), barge_in=False),)
    assert call.done() == (Hangup(),)
    assert SendRestart() not in call.actions


def test_s3_dn_in_several_partitions_from_identify():
    call = answered()
    call.keys("2")
    call.keys("1001#")
    ending = call.send(EngineFailed("identify", "dn_in_several_partitions", True))
    assert ending == (Play(("dn_in_several_partitions", "goodbye"), barge_in=False),)


# --- D-3, C-15, C-14: replace ------------------------------------------------------
def test_d3_replace_the_one_old_phone():
    call = logged_in()
    assert call.send(EngineDone("authenticate", None)) == (RunEngine("select"),)
    chosen = call.send(EngineDone("select", {"chosen": choice("SEP001122334455")}))
    assert chosen == (RunEngine("preview", "SEP001122334455"),)
    assert call.send(EngineDone("preview", {"losses": 0, "kem_moves": False})) == (Play(("confirm",)),)
    call.done()
    assert call.keys("1") == (CancelTimer("digit"), RunEngine("replace", "SEP001122334455"))
    assert call.keys("1") == ()  # the migration runs: keys are dropped
    assert call.send(EngineDone("replace", "SEP00AA11BB22CC")) == (Play(("migrated_restart",), barge_in=False),)
    assert call.keys("1") == ()
    assert call.done() == (SendRestart(), Hangup())
    assert call.state.phase == flow.DONE and not call.state.restart_owed
    assert call.send(HungUp()) == ()  # the far end confirms our BYE
    assert call.state.phase == flow.GONE


def test_c15_losses_are_read_before_confirm():
    call = logged_in()
    call.send(EngineDone("authenticate", None))
    call.send(EngineDone("select", {"chosen": choice("SEP001122334455")}))
    warning = call.send(EngineDone("preview", {"losses": 12, "kem_moves": True}))
    assert warning == (Play(("losses_intro", "digit_1", "digit_2", "lines_to_kem", "confirm")),)
    call.done()
    call.send(TimerFired("digit", call.timer().serial))
    assert plays(call.actions)[-1] == ("no_input", "losses_intro", "digit_1", "digit_2", "lines_to_kem", "confirm")
    assert call.keys("*") == (StopPlaying(), Play(("losses_intro", "digit_1", "digit_2", "lines_to_kem", "confirm")))


def test_c15_kem_moves_without_losses():
    call = logged_in()
    call.send(EngineDone("authenticate", None))
    call.send(EngineDone("select", {"chosen": choice("SEP001122334455")}))
    assert call.send(EngineDone("preview", {"losses": 0, "kem_moves": True})) == (Play(("lines_to_kem", "confirm")),)


@pytest.mark.parametrize("key", ["2", "0", "#"])
def test_c15_any_other_key_at_confirm_ends_with_nothing_done(key):
    call = logged_in()
    call.send(EngineDone("authenticate", None))
    call.send(EngineDone("select", {"chosen": choice("SEP001122334455")}))
    call.send(EngineDone("preview", {"losses": 3, "kem_moves": False}))
    assert call.keys(key) == (StopPlaying(), Play(("goodbye",), barge_in=False))
    assert call.done() == (Hangup(),)
    assert [a.op for a in engine(call.actions)] == ["identify", "authenticate", "select", "preview"]


# --- D-4 lists ----------------------------------------------------------------------
ELEVEN = [choice(f"SEP0011223344{i:02X}", model=f"Cisco 79{60 + i % 6}") for i in range(1, 12)]


def entry(model: str, mac4: tuple[str, ...], key: int) -> tuple[str, ...]:
    return ("for_model", *(f"digit_{d}" for d in model), "mac_ending", *mac4, "press", f"digit_{key}")


def listed(choices) -> Call:
    call = logged_in()
    call.send(EngineDone("authenticate", None))
    call.send(EngineDone("select", {"choices": choices}))
    return call


def test_d4_an_entry_reads_model_digits_and_mac_ending():
    call = logged_in()
    call.send(EngineDone("authenticate", None))
    shown = call.send(EngineDone("select", {"choices": [
        {"name": "SEP0011223A1B2", "model": "Cisco 7965", "mac": "0011223A1B2", "description": "desk"},
        {"name": "SEPCAFE00FF8865", "model": "Cisco 8865NR", "mac": "cafe00ff8865", "description": ""},
    ]}))
    assert shown == (Play((
        "choose_phone",
        *entry("7965", ("letter_a", "digit_1", "letter_b", "digit_2"), 1),
        *entry("8865", ("digit_8", "digit_8", "digit_6", "digit_5"), 2),
        "repeat_hint",
    )),)
    assert call.state.phase == flow.LIST


def test_d4_two_pages_star_turns_and_wraps_then_choose():
    call = listed(ELEVEN)
    first = plays(call.actions)[-1]
    assert first[0] == "choose_phone" and first[-1] == "more_phones"
    assert first.count("press") == 9 and first[-3:-1] == ("press", "digit_9")
    call.done()
    second = call.keys("*")
    assert second[0] == CancelTimer("digit")
    page2 = second[1].prompts
    assert page2.count("press") == 2 and page2[-1] == "more_phones"
    assert page2[1:6] == ("for_model", "digit_7", "digit_9", "digit_6", "digit_4")  # ELEVEN[9]: Cisco 7964
    assert call.state.page == 1
    assert call.keys("*") == (StopPlaying(), Play(first))  # wraps to page 1
    call.keys("*")
    assert call.keys("2") == (StopPlaying(), RunEngine("preview", ELEVEN[10]["name"]))
    assert call.state.old_phone == ELEVEN[10]["name"]
    assert call.state.failures == 0


def test_d4_choose_on_the_first_page_then_confirm_and_migrate():
    call = listed(ELEVEN)
    assert call.keys("9") == (StopPlaying(), RunEngine("preview", ELEVEN[8]["name"]))
    call.send(EngineDone("preview", {"losses": 0, "kem_moves": False}))
    assert call.keys("1") == (StopPlaying(), RunEngine("replace", ELEVEN[8]["name"]))


@pytest.mark.parametrize("key", ["3", "0", "#"])
def test_d4_a_key_with_no_entry_is_invalid_and_repeats_the_page(key):
    call = listed(ELEVEN)
    call.keys("*")  # page 2 holds keys 1 and 2
    page2 = plays(call.actions)[-1]
    assert call.keys(key) == (StopPlaying(), Play(("invalid_entry",) + page2))
    assert call.state.failures == 1 and call.state.page == 1
    assert engine(call.actions)[-1].op == "select"


def test_d4_single_page_star_rereads_it():
    call = listed(ELEVEN[:2])
    page1 = plays(call.actions)[-1]
    assert page1[-1] == "repeat_hint" and "more_phones" not in page1
    assert call.keys("*") == (StopPlaying(), Play(page1))


def test_d4_a_list_timeout_replays_the_page():
    call = listed(ELEVEN[:2])
    page1 = plays(call.actions)[-1]
    call.done()
    assert call.send(TimerFired("digit", call.timer().serial)) == (Play(("no_input",) + page1),)


@pytest.mark.parametrize("value", [None, {}, {"choices": []}, {"choices": [{"model": "x"}]}, "junk"])
def test_d3_a_selection_the_flow_cannot_read_is_an_error(value):
    call = logged_in()
    call.send(EngineDone("authenticate", None))
    assert call.send(EngineDone("select", value)) == (Play(("error", "goodbye"), barge_in=False),)


# --- P-1 provision --------------------------------------------------------------------
def test_p1_provision_confirms_then_restarts():
    call = logged_in(option="1")
    assert call.send(EngineDone("authenticate", None)) == (Play(("confirm",)),)
    assert call.keys("1") == (StopPlaying(), RunEngine("provision"))
    assert call.send(EngineDone("provision", NEW)) == (Play(("provisioned_restart",), barge_in=False),)
    assert call.done() == (SendRestart(), Hangup())
    assert "select" not in [a.op for a in engine(call.actions)]


@pytest.mark.parametrize("code", ["not_allowed", "phone_limit", "owned_by_other", "no_user"])
def test_p1_refusals(code):
    call = logged_in(option="1")
    call.send(EngineDone("authenticate", None))
    call.keys("1")
    assert call.send(EngineFailed("provision", code, True)) == (Play((code, "goodbye"), barge_in=False),)


def test_p1_no_secret_goes_straight_to_confirm():
    call = answered(needs_secret=False)
    call.keys("1")
    call.keys("1001#")
    assert call.send(EngineDone("identify", None)) == (Play(("confirm",)),)


# --- hang-up, C-14 ----------------------------------------------------------------------
def test_a6_hang_up_in_the_middle_of_the_pin_runs_nothing_more():
    call = answered()
    call.keys("2")
    call.keys("1001#")
    call.send(EngineDone("identify", None))
    call.keys("975")
    assert call.send(HungUp()) == (RunEngine("abandon", "replace"),)  # C-13, without the PIN
    assert call.state.phase == flow.GONE and call.state.buffer == ""
    for event in (Digit("3"), Digit("1"), Digit("#"), PromptDone(), TimerFired("digit", call.state.serial),
                  EngineDone("identify", None), HungUp()):
        assert call.send(event) == ()
    assert engine(call.actions) == [RunEngine("identify", "1001"), RunEngine("abandon", "replace")]


def test_c14_hang_up_while_replace_runs_still_restarts_the_phone():
    call = logged_in()
    call.send(EngineDone("authenticate", None))
    call.send(EngineDone("select", {"chosen": choice("SEP001122334455")}))
    call.send(EngineDone("preview", {"losses": 0, "kem_moves": False}))
    call.keys("1")
    assert call.send(HungUp()) == ()
    assert call.state.phase == flow.GONE and call.state.pending == "replace"
    assert call.send(EngineDone("replace", NEW)) == (SendRestart(),)
    assert call.send(EngineDone("replace", NEW)) == ()
    assert not any(isinstance(a, (Play, Hangup)) for a in call.actions[call.actions.index(SendRestart()):])


def test_c14_hang_up_while_provision_runs_and_fails_sends_nothing():
    call = logged_in(option="1")
    call.send(EngineDone("authenticate", None))
    call.keys("1")
    call.send(HungUp())
    assert call.send(EngineFailed("provision", "phone_limit", True)) == ()
    assert call.state.pending is None


def test_c14_hang_up_during_the_success_prompt_still_restarts():
    call = logged_in(option="1")
    call.send(EngineDone("authenticate", None))
    call.keys("1")
    call.send(EngineDone("provision", NEW))
    assert call.send(HungUp()) == (SendRestart(),)
    assert call.done() == () and call.send(HungUp()) == ()
    assert call.actions.count(SendRestart()) == 1


def test_c14_hang_up_while_select_runs_ignores_its_answer():
    call = logged_in()
    call.send(EngineDone("authenticate", None))
    call.send(HungUp())
    assert call.state.pending is None
    assert call.send(EngineDone("select", {"chosen": choice("SEP001122334455")})) == ()


def test_engine_answers_for_another_op_are_ignored():
    call = answered()
    call.keys("2")
    call.keys("1001#")
    assert call.send(EngineDone("authenticate", None)) == ()
    assert call.send(EngineFailed("select", "no_old_phone", True)) == ()
    assert call.send(EngineDone("replace", NEW)) == ()
    assert call.state.pending == "identify"
    assert call.send(EngineDone("identify", None)) == (Play(("enter_pin",)),)
    assert call.send(EngineDone("identify", None)) == ()


# --- the PIN never shows --------------------------------------------------------------
def test_a6_pin_absent_from_every_state_and_action_but_authenticate():
    call = logged_in()
    call.send(EngineDone("authenticate", None))
    call.send(EngineDone("select", {"choices": ELEVEN}))
    call.keys("3")
    call.send(EngineDone("preview", {"losses": 1, "kem_moves": False}))
    call.keys("1")
    call.send(EngineDone("replace", NEW))
    call.done()
    assert SendRestart() in call.actions
    for state in call.states:
        assert PIN not in repr(state) and PIN not in str(state)
    carrying = [a for a in call.actions if PIN in str(dataclasses.astuple(a))]
    assert carrying == [RunEngine("authenticate", PIN)]
    for action in call.actions:
        assert PIN not in repr(action)
    assert repr(Digit(PIN[0])) == "Digit()"
    entered_pin = call.actions.index(RunEngine("authenticate", PIN))
    echoed = [p for prompts in plays(call.actions[:entered_pin]) for p in prompts if p.startswith("digit_")]
    assert echoed == []  # keys are never read back


def test_a6_pin_wiped_when_the_entry_is_abandoned():
    call = logged_in()
    call.send(EngineFailed("authenticate", "invalid_credentials", False))
    call.keys("1001#")
    call.send(EngineDone("identify", None))
    call.keys("8642")
    assert call.state.buffer == "8642" and "8642" not in repr(call.state)
    call.keys("*")
    assert call.state.buffer == ""


# --- the module itself ------------------------------------------------------------------
def test_flow_is_pure():
    """STYLE: no pjsua2, Twisted, database or clock behind the rules."""
    tree = ast.parse(Path(flow.__file__).read_text())
    imported = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            imported.add(node.module or "")
    assert imported <= {"__future__", "re", "collections.abc", "dataclasses", "typing", "models.rules.selection", "ivr.wording"}


def test_states_events_and_actions_are_frozen():
    state = initial_state(FlowConfig())
    for value in (state, state.config, Digit("1"), Play(("welcome",)), RunEngine("select")):
        with pytest.raises(dataclasses.FrozenInstanceError):
            value.__setattr__("x", 1)
    assert initial_state() == state
