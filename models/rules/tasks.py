"""F-6 bulk tasks' rules without storage: task statuses, device states, eligibility and the license rule."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Mapping, Protocol

from models.rules.firmware import Direction, Verdict, eligibility, license_file_name
from models.rules.tasks_csv import RowError

DRAFT, READY, READY_WITH_ERRORS = "Draft", "Ready for migration", "Ready with errors"


IN_PROGRESS, REVIEW_ERRORS, COMPLETE = "In progress", "Review errors", "Complete"


STATUSES = (DRAFT, READY, READY_WITH_ERRORS, IN_PROGRESS, REVIEW_ERRORS, COMPLETE)


STATES = ("error", "unknown_device", "ready", "in_progress", "complete", "paused", "cancelled", "failed")


NOT_MIGRATED = ("error", "unknown_device")  # checked and left out: not among the devices the task migrates
FAILED = "failed"  # F-6b: the one word for a device the task could not migrate


ACTIONS = ("upload", "start", "pause", "resume", "cancel", "retry", "refresh")


ELIGIBILITY = ("eligible", "ineligible", "unknown")


class KnownDevice(Protocol):
    """What eligibility reads of a device the site already has."""

    name: str
    model: str
    reported_load: str | None


def assess(pid: str, model: str, direction: Direction, known: KnownDevice | None,
           facts: Mapping[str, Any]) -> Verdict:
    """F-6 eligibility from what the upload and the database know: no VID (so the
    F-1 limits make it *unknown*), the load the phone last reported."""
    if known is not None and known.model.upper() != model.upper():
        return Verdict("ineligible", f"The file says {model} but {known.name} is a {known.model} here: "
                                     "fix the Model and upload the row again.", model=model)
    return eligibility(pid, None, known.reported_load if known else None, direction, facts=facts)


def state_for(status: str, include_unknown: bool, known: bool = True) -> str:
    """Digest: eligible devices, and unknown ones when the admin opts in, are migrated. F-6b: a MAC the
    site has no phone for is an *unknown device* whatever its eligibility: nothing could be pushed to it."""
    if not known:
        return "unknown_device"
    return "ready" if status == "eligible" or (status == "unknown" and include_unknown) else "error"


def pushes_load(kind: str) -> bool:
    """F-6: a task of kind license_and_device pushes the target load; a license-only one records the
    license rule and leaves the load to the admin's bulk update (so it has no load to confirm, F-6d)."""
    return kind == "license_and_device"


def license_rule(server: str, mac: str, direction: Direction, facts: Mapping[str, Any]) -> str:
    """F-5: where the phone fetches its node-locked license (overview: "Transition
    Authorization Rule" ``tftp://CUCM/MAC.lic``; to Enterprise ``http://CUCM:6970/$MAU_M2E.lic``)."""
    file = license_file_name(mac, direction, facts=facts)
    return f"http://{server}:6970/{file}" if Direction(direction) is Direction.M2E else f"tftp://{server}/{file}"


def settle_status(status: str, counts: Mapping[str, int], upload_errors: int) -> str:
    """F-6: the task's status from its devices' states."""
    if status == IN_PROGRESS:
        if counts.get("in_progress") or counts.get("paused"):
            return IN_PROGRESS
        return REVIEW_ERRORS if counts.get("failed") and not counts.get("complete") else COMPLETE
    if status in (COMPLETE, REVIEW_ERRORS) and not counts.get("ready"):
        return status
    if not sum(counts.values()):
        return DRAFT
    left_out = upload_errors or any(counts.get(s) for s in (*NOT_MIGRATED, FAILED))
    return READY_WITH_ERRORS if left_out else READY


def no_phone(mac: str) -> str:
    """F-6b: why a device is an unknown device (at upload) or failed (its phone deleted before the push)."""
    return f"no phone SEP{mac} in this site: add it (or let it auto-register), then retry"


def allowed_actions(status: str, paused: bool, counts: Mapping[str, int]) -> tuple[str, ...]:
    """F-6c: the whole-task actions the task's state allows, in ``ACTIONS`` order; every door offers
    these and the engine refuses the others (``action_refusal``)."""
    return tuple(a for a in ACTIONS if action_refusal(a, status, paused, counts) is None)


def action_refusal(action: str, status: str, paused: bool, counts: Mapping[str, int]) -> tuple[str, str] | None:
    """F-6c: why the task's state forbids ``action`` on the whole task, as (refusal code, the rest of a
    sentence that begins with the task: 'is Draft: ...'); None
    when it allows it. Starting a task in progress is not refused: it changes nothing (its runner goes on)."""
    devices = sum(counts.values())
    if action == "upload":
        if status in (DRAFT, READY, READY_WITH_ERRORS):
            return None
        return "task_started", f"is {status}: devices are added before it starts"
    if action == "start":
        if status not in (READY, READY_WITH_ERRORS, COMPLETE, REVIEW_ERRORS):
            return "task_not_ready", f"is {status}: upload its devices first"
        if not counts.get("ready"):
            return "nothing_to_migrate", "has no device ready for migration"
        return None
    if action in ("pause", "resume", "cancel"):
        if status != IN_PROGRESS:
            return "task_not_in_progress", f"is {status}, not in progress"
        if action == "pause" and paused:
            return "task_paused", "is paused already: resume it or cancel it"
        if action == "resume" and not paused:
            return "task_not_paused", "is running: there is nothing to resume"
        return None
    if action == "retry":
        if not any(counts.get(s) for s in (*NOT_MIGRATED, FAILED)):
            return "nothing_to_retry", "has no failed, not eligible or unknown device: there is nothing to retry"
        return None
    if action == "refresh":
        if status == IN_PROGRESS:
            return "task_started", f"is {status}: check it again once it ends"
        return None if devices else ("task_not_ready", f"is {status}: upload its devices first")
    raise ValueError(f"{action!r} is not a task action")


def runner_may_take(lease_until: datetime | None, now: datetime) -> bool:
    """F-6a: a task In progress is free to any runner when no runner holds its lease or the lease ran out
    (the process holding it died: it renews the lease at every batch)."""
    if lease_until is None:
        return True
    if lease_until.tzinfo is None:  # SQLite gives back naive UTC
        lease_until = lease_until.replace(tzinfo=timezone.utc)
    return lease_until <= now




@dataclass(frozen=True)
class UploadResult:
    added: int
    errors: tuple[RowError, ...]
    total: int  # devices in the task now: repeated uploads add up
    errors_csv: str  # the refused rows, to fix and upload again

    @property
    def refused(self) -> int:
        """Rows refused (a row may have several errors)."""
        return len({e.row for e in self.errors})


@dataclass(frozen=True)
class BatchResult:
    batch: int | None  # None: nothing was pushed (paused, ended, nothing queued)
    complete: int
    failed: int
    status: str
    paused: bool
    queued: int  # devices still waiting for a batch

    @property
    def processed(self) -> int:
        return self.complete + self.failed


@dataclass(frozen=True)
class Progress:
    status: str
    paused: bool
    total: int  # devices the task migrates: all but those NOT_MIGRATED
    done: int  # complete, failed or cancelled
    counts: Mapping[str, int] = field(default_factory=dict)  # per state
    confirmed: int = 0  # F-6d: complete, and the phone reports the load the task pushed
    to_confirm: int = 0  # F-6d: complete devices that were pushed a load (the others have nothing to confirm)
