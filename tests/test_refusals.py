"""The registry of refusal codes (models.rules.refusals): every code the source
raises is registered once with its kind, and a code not registered is refused
at the raise, so a door never meets a code it cannot map."""

import re
from pathlib import Path

import pytest

from models.rules.refusals import CODES, Kind, Refused

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
    assert Refused("being_migrated", "busy").kind is Kind.CONFLICT
    assert Refused("invalid_credentials", "no").kind is Kind.CREDENTIAL
    locked = Refused("locked", "locked")
    assert locked.kind is Kind.LOCKED and locked.final  # a locked user's session ends
    assert Refused("no_old_phone", "none").final  # D-3: nothing to choose from, the session ends
    assert not Refused("invalid_credentials", "no").final  # final only as the third strike
    assert Refused("invalid_credentials", "no", final=True).final


def test_a_field_given_at_the_raise_wins_over_the_registry():
    assert Refused("bad_pin", "short").field == "pin"
    assert Refused("bad_dn", "no DN", field="primary_extension").field == "primary_extension"
    assert Refused("being_migrated", "busy").field is None
