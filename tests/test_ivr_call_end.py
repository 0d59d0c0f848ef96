"""I-4: every IVR call that started ends exactly once (one ``ivr_call_ended``), and error events say what happened."""

from __future__ import annotations

import logging

from test_sip_adapter import FakeLeg, FakeService, Rig

from ivr.adapter import SERVER_ERROR
from ivr.invite import CallerId
from ivr.log import error_text


class SwigError(Exception):
    """Shaped like pjsua2's ``Error``: its repr names only a SWIG proxy object."""

    def __init__(self) -> None:
        super().__init__()
        self.status, self.title, self.reason = 171140, "pjsua_call_answer2(...)", "INVITE session already terminated"

    def __repr__(self) -> str:
        return "<pjsua2.Error; proxy of <Swig Object of type 'pj::Error *' at 0x7f0000000000> >"


class GoneLeg(FakeLeg):
    """A leg whose call pjsip ended (a CANCEL) before the adapter heard of it: answering it raises."""

    def respond(self, status: int) -> None:
        if status >= 200:
            raise SwigError()
        super().respond(status)


def ended_events(caplog) -> list[dict]:
    return [r.fields for r in caplog.records if r.getMessage() == "ivr_call_ended"]


def test_i4_answer_to_a_call_gone_during_the_look_up_ends_it_once(caplog):
    """I-4: the 200 OK fails because a CANCEL ended the call: one ``ivr_call_ended``, the error in words."""
    rig = Rig()
    leg = GoneLeg()
    leg.adapter = rig.adapter
    with caplog.at_level(logging.INFO, logger="phone_migration"):
        rig.adapter.incoming(leg, CallerId("9000"))
        rig.threads.run()  # the look-up ends; answering fails
        rig.clock.advance(1)
        leg.hang_up_now()  # pjsua's DISCONNECTED arrives late: still one end
        rig.clock.advance(1)
    [ended] = ended_events(caplog)
    assert ended["call"] == leg.serial and ended["phase"] == "idle"  # never answered: the flow never started
    [failed] = [r.fields for r in caplog.records if r.getMessage() == "ivr_answer_failed"]
    assert failed["error"] == "pjsua_call_answer2(...): INVITE session already terminated (status 171140)"
    assert "Swig" not in caplog.text and "proxy of" not in caplog.text
    assert rig.adapter.sessions == {} and leg.detached


def test_i4_a_call_whose_answering_breaks_is_refused_not_left_ringing(caplog):
    """I-4: an unexpected error while answering: 500 to the caller and one ``ivr_call_ended``, not a ringing slot."""
    service = FakeService()
    service.settings = lambda: None  # answering reads attributes of None
    rig = Rig(service)
    with caplog.at_level(logging.INFO, logger="phone_migration"):
        leg = rig.call(confirm=False)
        leg.hang_up_now()  # what pjsua reports once the 500 went out
        rig.clock.advance(1)
    assert leg.responses == [SERVER_ERROR]
    assert [e["call"] for e in ended_events(caplog)] == [leg.serial]
    [failed] = [r.fields for r in caplog.records if r.getMessage() == "ivr_answer_failed"]
    assert failed["error"].startswith("AttributeError: ")
    assert rig.adapter.sessions == {}


def test_i4_error_text_names_what_happened():
    """I-4: pjsua2's errors by title and reason; others by class and message."""
    assert error_text(SwigError()) == "pjsua_call_answer2(...): INVITE session already terminated (status 171140)"
    assert error_text(ValueError("bad")) == "ValueError: bad"
    assert error_text(TimeoutError()) == "TimeoutError"
