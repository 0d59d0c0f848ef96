"""U-1: undoing a migration, as pure rules: what the kept snapshot holds, what counts
as a change since the migration, and which refusal applies (``now`` passed in).

A snapshot is JSON with a ``format`` number (``FORMAT``) so a later schema can
still read the ones written before it: ``device`` (the device row's columns by
name), ``lines``, ``features`` and ``kems`` (each a list of dicts).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

from models.rules.refusals import Refused

FORMAT = 1
# Columns the phone's own registration feeds (R-1..R-3) or its user's Extension Mobility
# login moves: neither is an administrator's change, and an undo keeps their current values.
VOLATILE = frozenset({"id", "registration", "sip_contact", "register_call_id", "reported_load", "em_logged_in_user"})
PARTS = ("lines", "features", "kems")


def changes(kept: dict[str, Any], current: dict[str, Any]) -> list[str]:
    """What differs between a device's state kept after the migration and its state now:
    column names, then "lines", "features", "kems"; empty when nothing changed."""
    kept_device, current_device = kept.get("device", {}), current.get("device", {})
    differ = sorted(k for k in kept_device.keys() | current_device.keys()
                    if k not in VOLATILE and kept_device.get(k) != current_device.get(k))
    return differ + [part for part in PARTS if kept.get(part, []) != current.get(part, [])]


@dataclass(frozen=True)
class UndoFacts:
    """What the undo of one migration record is decided from."""

    record_id: int
    outcome: str  # the record's: only "migrated" can be undone
    action: str  # "replace" (a migration) or "provision"
    at: datetime  # when the migration was applied
    policy: str  # S-1 when the migration applied ("retain" or "delete")
    has_snapshot: bool  # the old phone's state was kept (migrations made before U-1 have none)
    undone: bool
    old_device: str
    new_device: str
    old_exists: bool = True
    new_exists: bool = True
    new_migrated_again: bool = False
    old_changes: list[str] = field(default_factory=list)
    new_changes: list[str] = field(default_factory=list)


def check(facts: UndoFacts, policy_now: str, window_hours: int, now: datetime) -> None:
    """Raise the refusal that applies to undoing ``facts``' migration, if any (U-1, S-1)."""
    if facts.undone:
        raise Refused("already_undone", f"migration {facts.record_id} has already been undone")
    if facts.outcome != "migrated" or facts.action != "replace":
        raise Refused("not_undoable", f"record {facts.record_id} is not a migration ({facts.outcome}); "
                                      "only a migration can be undone")
    if facts.policy == "delete":
        raise Refused("undo_old_deleted", f"the old phone {facts.old_device} was deleted by the migration "
                                          "(replacement policy delete): there is nothing to give back")
    if policy_now != "retain":
        raise Refused("undo_needs_retain", "undo needs the replacement policy retain (S-1); it is "
                                           f"{policy_now} now")
    if not facts.has_snapshot:
        raise Refused("not_undoable", f"migration {facts.record_id} kept no copy of the old phone "
                                      "(it was made before undo existed)")
    at = facts.at if facts.at.tzinfo is not None else facts.at.replace(tzinfo=timezone.utc)  # SQLite: naive UTC
    if now - at > timedelta(hours=window_hours):
        raise Refused("undo_window_passed", f"migration {facts.record_id} is older than the undo window "
                                            f"of {window_hours} hours")
    if not facts.old_exists:
        raise Refused("undo_old_deleted", f"the old phone {facts.old_device} has been deleted since the migration")
    if facts.new_migrated_again:
        raise Refused("undo_new_migrated", f"the new phone {facts.new_device} has itself been migrated since; "
                                           "undo that migration first")
    if not facts.new_exists:
        raise Refused("undo_device_changed", f"the new phone {facts.new_device} has been deleted since the migration")
    for name, changed in ((facts.old_device, facts.old_changes), (facts.new_device, facts.new_changes)):
        if changed:
            raise Refused("undo_device_changed", f"{name} has changed since the migration "
                                                 f"({', '.join(changed)}); undo would lose that change")
