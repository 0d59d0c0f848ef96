"""The registry of refusal codes (models.rules.refusals): every code the source
raises is registered once with its kind, and a code not registered is refused
at the raise, so a door never meets a code it cannot map."""

import json
import re
from pathlib import Path

import pytest
from flask import Flask

from ivr.prompts import PROMPTS
from ivr.wording import REFUSAL_PROMPTS
from models.rules.refusals import CODES, SAYS, Kind, Refused
from phoneservice.web.api.common import refusal_problem

ROOT = Path(__file__).resolve().parent.parent
RAISED = re.compile(r"(?:Refused|field_refusal|super\(\).__init__)\(\s*\"([a-z_]+)\"")


def raised_codes() -> set[str]:
    found = set()
    for top in ("models", "ivr", "phoneservice"):
        for path in (ROOT / top).rglob("*.py"):
            found |= set(RAISED.findall(path.read_text()))
    return found


def test_every_code_the_source_raises_is_registered():
    codes = raised_codes()
    assert len(codes) > 60  # the scan finds them: it is not vacuous
    assert sorted(codes - CODES.keys()) == []


def test_an_unregistered_code_is_refused_where_it_is_raised():
    with pytest.raises(KeyError, match="not_a_code"):
        Refused("not_a_code", "whatever")


def test_kind_and_session_end_come_from_the_registry():
    assert Refused("unknown_device", "no phone").kind is Kind.NOT_FOUND
    assert Refused("bad_mac", "no MAC").kind is Kind.INVALID
    assert Refused("being_migrated").kind is Kind.CONFLICT
    assert Refused("invalid_credentials", "no").kind is Kind.CREDENTIAL
    locked = Refused("locked", "locked")
    assert locked.kind is Kind.LOCKED and locked.final  # a locked user's session ends
    assert Refused("no_old_phone").final  # D-3: nothing to choose from, the session ends
    assert not Refused("invalid_credentials", "no").final  # final only as the third strike
    assert Refused("invalid_credentials", "no", final=True).final


def test_a_field_given_at_the_raise_wins_over_the_registry():
    assert Refused("bad_pin", "short").field == "pin"
    assert Refused("bad_dn", "no DN", field="primary_extension").field == "primary_extension"
    assert Refused("being_migrated").field is None


# --- C-12: one wording per shared code, in every door ------------------------------------


@pytest.mark.parametrize("code", sorted(SAYS))
def test_c12_a_shared_refusal_is_worded_once_for_every_door(code):
    """C-12, M-3: a code in ``SAYS`` is raised without a message and every door says its
    sentence: the API's problem detail, the admin UI and the CLI (the message), the
    screens (the message and a full stop) and the IVR, which plays the prompt of the
    code's name, whose English text is that sentence."""
    refusal = Refused(code)
    assert refusal.message == SAYS[code] and CODES[code]
    with Flask(__name__).test_request_context("/api/v1/migrate"):
        assert json.loads(refusal_problem(refusal).get_data())["detail"] == SAYS[code]
    assert REFUSAL_PROMPTS[code] == (code,)
    assert PROMPTS[code]["en"] == SAYS[code] + "."


def test_c12_a_shared_refusal_cannot_be_worded_again():
    """C-12: a raise site cannot give a code of ``SAYS`` other words; a code outside it needs its own."""
    with pytest.raises(ValueError):
        Refused("already_migrated", "X has already been migrated and cannot be migrated again")
    with pytest.raises(ValueError):
        Refused("bad_mac")
    assert Refused("already_migrated", SAYS["already_migrated"]).message == SAYS["already_migrated"]


def test_m3_each_shared_sentence_says_what_to_do_next():
    """M-3: every error tells the user what to do next: each sentence ends with an instruction."""
    nexts = ("Choose another phone", "Try again", "Check the extension", "Unplug it", "Ask ")
    for code, sentence in SAYS.items():
        assert any(step in sentence.split(". ", 1)[-1] for step in nexts), code
