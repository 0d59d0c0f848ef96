"""F-6b..F-6d, the pure side (``models.rules.tasks``, ``models.rules.task_summary``): the actions a
task's state allows, an unknown device's state, pushed vs confirmed, the headline and the bar."""

from __future__ import annotations

import pytest

from models.rules.refusals import CODES
from models.rules.task_summary import bar, confirmation, confirmation_line, device_label, headline
from models.rules.tasks import (
    ACTIONS,
    COMPLETE,
    DRAFT,
    IN_PROGRESS,
    READY,
    READY_WITH_ERRORS,
    REVIEW_ERRORS,
    Progress,
    action_refusal,
    allowed_actions,
    settle_status,
    state_for,
)


@pytest.mark.parametrize("status, paused, counts, allowed", [
    (DRAFT, False, {}, ("upload",)),
    (READY, False, {"ready": 3}, ("upload", "start", "refresh")),
    (READY_WITH_ERRORS, False, {"ready": 3, "unknown_device": 1}, ("upload", "start", "retry", "refresh")),
    (READY_WITH_ERRORS, False, {"error": 2}, ("upload", "retry", "refresh")),  # nothing ready: no Start
    (IN_PROGRESS, False, {"in_progress": 3, "complete": 1}, ("pause", "cancel")),
    (IN_PROGRESS, True, {"in_progress": 3}, ("resume", "cancel")),
    (IN_PROGRESS, False, {"in_progress": 3, "failed": 1}, ("pause", "cancel", "retry")),
    (COMPLETE, False, {"complete": 3}, ("refresh",)),
    (COMPLETE, False, {"complete": 3, "failed": 2}, ("retry", "refresh")),
    (COMPLETE, False, {"complete": 3, "ready": 2}, ("start", "refresh")),  # retried: may start again
    (REVIEW_ERRORS, False, {"failed": 2}, ("retry", "refresh")),
])
def test_f6c_the_actions_a_state_allows(status, paused, counts, allowed):
    """F-6c: one rule says which of the six actions (and the upload) each state allows."""
    assert allowed_actions(status, paused, counts) == allowed


def test_f6c_each_refused_action_has_a_registered_code_and_says_why():
    """F-6c: what a state forbids is refused with a conflict code and a sentence about the task."""
    states = [(DRAFT, False, {}), (READY, False, {"ready": 1}), (IN_PROGRESS, False, {"in_progress": 1}),
              (IN_PROGRESS, True, {"in_progress": 1}), (COMPLETE, False, {"complete": 1})]
    refused = 0
    for status, paused, counts in states:
        for action in ACTIONS:
            refusal = action_refusal(action, status, paused, counts)
            if refusal is not None:
                code, why = refusal
                assert code in CODES and why[:3] in ("is ", "has"), (action, status, refusal)
                refused += 1
    assert refused >= 20
    assert action_refusal("pause", IN_PROGRESS, True, {"in_progress": 1})[0] == "task_paused"
    assert action_refusal("resume", IN_PROGRESS, False, {"in_progress": 1})[0] == "task_not_paused"
    assert action_refusal("retry", COMPLETE, False, {"complete": 1})[0] == "nothing_to_retry"
    with pytest.raises(ValueError):
        action_refusal("explode", DRAFT, False, {})


def test_f6b_an_unknown_device_is_its_own_state_whatever_its_eligibility():
    """F-6b: a MAC the site has no phone for is never ready, and the task is not Ready without errors."""
    assert state_for("eligible", False, known=False) == "unknown_device"
    assert state_for("unknown", True, known=False) == "unknown_device"
    assert state_for("eligible", False, known=True) == "ready"
    assert settle_status(DRAFT, {"ready": 2, "unknown_device": 1}, 0) == READY_WITH_ERRORS
    assert device_label("unknown_device") == "Unknown device"


def test_f6d_confirmed_only_when_the_phone_reports_the_pushed_load():
    """F-6d: pushed is not confirmed until the phone reports its target load (any case)."""
    load = "sip88xx.12-0-3MPP0001-87"
    assert confirmation("complete", load, None) == "waiting"
    assert confirmation("complete", load, "sip88xx.14-2-1-0101-26") == "waiting"
    assert confirmation("complete", load, load.upper()) == "confirmed"
    assert confirmation("complete", None, load) is None  # nothing pushed to confirm (license only)
    assert confirmation("failed", load, load) is None
    assert device_label("complete", "waiting") == "Pushed, waiting for the phone"
    assert device_label("complete", "confirmed") == "Confirmed by the phone"
    assert device_label("complete") == "Pushed"


def test_f6b_a_task_that_ended_with_failures_says_so():
    """F-6b: never "Complete" beside "Failed: 50"; the bar shows done and failed apart."""
    progress = Progress(COMPLETE, False, 1000, 1000, {"complete": 950, "failed": 50}, confirmed=900, to_confirm=950)
    assert headline(progress) == "Finished with 50 failed (950 pushed)"
    assert confirmation_line(progress) == "900 of 950 pushed devices confirmed by the phone; 50 pushed, " \
                                          "waiting for the phone"
    assert [(s.name, s.devices, s.start, s.width) for s in bar(progress)] == [
        ("confirmed", 900, 0.0, 90.0), ("pushed", 50, 90.0, 5.0), ("failed", 50, 95.0, 5.0)]
    clean = Progress(COMPLETE, False, 3, 3, {"complete": 3})
    assert headline(clean) == "Finished: 3 pushed" and confirmation_line(clean) is None
    assert headline(Progress(REVIEW_ERRORS, False, 2, 2, {"failed": 2})) == "Finished with 2 failed (0 pushed)"


def test_f6b_headlines_before_and_during_a_run():
    """F-6b: one word a meaning: left out is *not eligible* or *unknown*, a failed push *failed*."""
    assert headline(Progress(DRAFT, False, 0, 0, {})) == "Draft: upload its devices"
    ready = Progress(READY_WITH_ERRORS, False, 950, 0, {"ready": 950, "error": 30, "unknown_device": 20})
    assert headline(ready) == "Ready: 950 devices to migrate, 30 devices not eligible, 20 devices unknown to the site"
    running = Progress(IN_PROGRESS, False, 1000, 400, {"complete": 390, "failed": 10, "in_progress": 600})
    assert headline(running) == "In progress: 400 of 1000 devices processed, 10 failed"
    assert headline(Progress(IN_PROGRESS, True, 1000, 200, {"complete": 200, "in_progress": 800})) == \
        "Paused: 200 of 1000 devices processed"
    assert bar(Progress(DRAFT, False, 0, 0, {})) == ()
