"""The IVR flow's type-ahead (A-8) and its abandoned attempts (C-13), as a pure state machine."""

from __future__ import annotations

from test_flow import NEW, PIN, Call, answered, choice, engine, plays

from ivr import flow
from ivr.flow import (
    Answered,
    CancelTimer,
    EngineDone,
    EngineFailed,
    Hangup,
    HungUp,
    Play,
    RunEngine,
    StartTimer,
)


def identifying(option: str = "2") -> Call:
    """Menu choice made, extension 1001 keyed, ``identify`` running."""
    call = answered()
    call.keys(option)
    assert call.keys("1001#")[-1] == RunEngine("identify", "1001")
    return call


# --- A-8 ------------------------------------------------------------------------------
def test_a8_pin_typed_while_identify_runs_is_replayed_without_its_question():
    """A-8: the whole PIN and # typed during the look-up reach ``authenticate``; "enter PIN" is not played."""
    call = identifying()
    assert call.keys(PIN + "#") == ()
    assert call.state.phase == flow.ENGINE and call.state.ahead == PIN + "#"
    assert call.send(EngineDone("identify", None)) == (CancelTimer("digit"), RunEngine("authenticate", PIN))
    assert call.state.ahead == "" and call.state.pending == "authenticate"


def test_a8_partial_entry_typed_ahead_waits_for_the_rest():
    """A-8: keys typed ahead that do not finish the entry leave the inter-digit timer running."""
    call = identifying()
    call.keys("97")
    actions = call.send(EngineDone("identify", None))
    assert actions == (StartTimer("digit", 3.0, call.state.serial),)
    assert call.state.phase == flow.PIN and call.state.buffer == "97" and not call.state.playing
    assert call.keys("531#")[-1] == RunEngine("authenticate", PIN)


def test_a8_whole_entry_typed_ahead_reaches_the_preview():
    """A-8: menu key, extension# and PIN# typed with no pause at all, partly before the answer, reach the preview."""
    call = Call()
    call.keys("2")  # before the answer is confirmed
    assert call.send(Answered(NEW)) == (Play(("enter_extension",)),)
    call.keys("1001#" + PIN + "#")  # the extension barges in; the PIN waits for identify
    call.send(EngineDone("identify", None))
    call.send(EngineDone("authenticate", None))
    call.send(EngineDone("select", {"chosen": choice("SEP001122334455")}))
    assert [e.op for e in engine(call.actions)] == ["identify", "authenticate", "select", "preview"]
    assert ("enter_pin",) not in plays(call.actions)


def test_a8_c15_the_confirmation_is_never_typed_ahead():
    """A-8, C-15: a "1" typed while the preview is worked out is dropped: the caller hears the losses first."""
    call = identifying()
    call.send(EngineDone("identify", None))
    call.keys(PIN + "#")
    call.keys("1")  # typed ahead, meant as "yes"
    call.send(EngineDone("authenticate", None))
    call.send(EngineDone("select", {"chosen": choice("SEP001122334455")}))
    actions = call.send(EngineDone("preview", {"losses": 2, "kem_moves": False}))
    assert plays(actions) == [("losses_intro", "digit_2", "confirm")] and engine(actions) == []
    assert call.state.phase == flow.CONFIRM and call.state.ahead == ""
    assert call.keys("1")[-1] == RunEngine("replace", "SEP001122334455")


def test_a8_a_refusal_drops_the_keys_typed_ahead():
    """A-8: after "not valid" the caller hears why and the question again; keys typed before are gone."""
    call = identifying()
    call.send(EngineDone("identify", None))
    call.keys(PIN + "#")
    call.keys("1")  # meant for the confirmation
    actions = call.send(EngineFailed("authenticate", "invalid_credentials", False))
    assert plays(actions) == [("invalid_credentials", "try_again", "enter_extension")]
    assert call.state.phase == flow.IDENTIFY and call.state.ahead == "" and call.state.buffer == ""


def test_a8_type_ahead_is_bounded_and_closing_prompts_drop_keys():
    """A-8: at most twice the longest entry is kept; keys during the goodbye are not kept."""
    call = identifying()
    call.keys("1" * 100)
    assert call.state.ahead == "1" * (2 * call.state.config.max_digits)
    call = answered()
    call.keys("2")
    call.keys("1001#")
    call.send(EngineFailed("identify", "locked", True))
    assert call.state.phase == flow.CLOSING
    assert call.keys("123") == () and call.state.ahead == ""


def test_a6_keys_typed_ahead_are_hidden_and_wiped_on_hang_up():
    """A-6: a PIN typed ahead is not in the state's repr and is gone after the hang-up."""
    call = identifying()
    call.keys(PIN)
    assert call.state.ahead == PIN and PIN not in repr(call.state)
    call.send(HungUp())
    assert call.state.ahead == "" and PIN not in repr(call.actions)


# --- C-13: abandoned attempts ------------------------------------------------------------
def test_c13_hang_up_after_the_extension_is_an_abandoned_attempt():
    """C-13: PIN, list, confirmation or engine work after ``identify`` succeeded: recorded as abandoned."""
    for option, before_hang_up in (("2", ()), ("1", ()), ("2", (EngineDone("authenticate", None),))):
        call = identifying(option)
        call.send(EngineDone("identify", None))
        call.keys(PIN + "#")
        for event in before_hang_up:
            call.send(event)
        option_name = "provision" if option == "1" else "replace"
        assert call.send(HungUp()) == (RunEngine("abandon", option_name),)


def test_c13_no_abandoned_record_before_the_extension_or_once_migrating():
    """C-13: nothing keyed yet, identify still running, a migration running, or the IVR hung up itself."""
    call = answered()
    call.keys("2")
    assert call.send(HungUp()) == ()
    assert identifying().send(HungUp()) == ()
    call = identifying()
    call.send(EngineDone("identify", None))
    call.keys(PIN + "#")
    call.send(EngineDone("authenticate", None))
    call.send(EngineDone("select", {"chosen": choice("SEP001122334455")}))
    call.send(EngineDone("preview", {"losses": 0, "kem_moves": False}))
    call.keys("1")
    assert call.send(HungUp()) == ()  # replace runs: its own record
    call = identifying()
    call.send(EngineDone("identify", None))
    call.keys(PIN + "#")
    call.send(EngineFailed("authenticate", "locked", True))  # recorded as a refusal
    assert call.done() == (Hangup(),)
    assert call.send(HungUp()) == ()
