"""``Undoer``: undo a migration (U-1), the one use case behind the admin UI, the API and the CLI.

``preview`` says what comes back, or the refusal that applies, and changes
nothing; ``undo`` decides again under the old phone's lock and, in ONE
transaction (C-12), gives the old phone back exactly the rows kept when it was
migrated (``models.storage.undo_rows``), clears its *migrated* flag, deletes
the new device (so its MAC is served ``XMLDefault.cnf.xml`` again: an unknown
phone) and records the undo (C-13). A refusal is recorded too.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Callable

from sqlalchemy.engine import Connection
from sqlalchemy.exc import OperationalError

from models.rules import undo as rules
from models.rules.clock import utcnow
from models.rules.refusals import Refused
from models.services.devices import remove_device
from models.services.migration import Migrator
from models.storage import undo_rows
from models.storage.database import Database
from models.storage.devices import _is_lock_error
from models.storage.settings import load_settings
from models.tables.devices import Device
from models.tables.records import MigrationRecord


@dataclass
class UndoPreview:
    """What an undo gives back to the old phone and takes away; after ``undo``, what it did."""

    record_id: int
    old_device: str
    new_device: str
    lines: list[str] = field(default_factory=list)  # "1: 1001 (partition) label"
    features: list[str] = field(default_factory=list)
    kems: list[str] = field(default_factory=list)
    restored: list[str] = field(default_factory=list)  # "column: now -> kept"
    applied: bool = False
    undo_record_id: int | None = None
    # C-14: where the deleted new phone's restart goes (it then fetches XMLDefault.cnf.xml)
    sip_contact: str | None = None
    register_call_id: str | None = None


class Undoer:
    """U-1 for every door: one transaction a method."""

    def __init__(self, db: Database, clock: Callable[[], datetime] = utcnow, recorder: Migrator | None = None) -> None:
        self.db = db
        self.clock = clock
        self.recorder = recorder or Migrator(db)  # C-13: refusals recorded as the engine records its own

    def preview(self, record_id: int) -> UndoPreview:
        """What ``undo`` would do now; raises the refusal that applies (not recorded: nothing was tried)."""
        with self.db.read_connection() as connection:
            return self._decide(connection, record_id, lock=False)[0]

    def undo(self, record_id: int, *, door: str, actor: str = "") -> UndoPreview:
        names = ("", "")
        try:
            with self.db.session() as session:
                reads = session.connection()
                found = undo_rows.kept(reads, record_id)
                names = (found[0].old_device, found[0].new_device) if found else names
                preview, snapshot, old_id, new_id = self._decide(reads, record_id, lock=True)
                new = session.get(Device, new_id)
                preview.sip_contact, preview.register_call_id, new_model = new.sip_contact, new.register_call_id, new.model
                undo_rows.restore(session, old_id, snapshot.before)
                remove_device(session, new.name)  # as any phone's delete: an activation code goes with it (M-5)
                record = MigrationRecord(door=door, actor=actor, action="undo", old_device=preview.old_device,
                                         old_model=snapshot.before["device"]["model"], new_device=preview.new_device,
                                         new_model=new_model, outcome="undone",
                                         message=f"migration {record_id} undone", details={"record": record_id})
                session.add(record)
                session.flush()
                undo_rows.mark_undone(reads, record_id, record.id, self.clock())
            preview.applied, preview.undo_record_id = True, record.id
            return preview
        except Refused as refusal:
            self._record(door, actor, names, refusal)
            raise
        except OperationalError as exc:
            if not _is_lock_error(exc):
                raise
            refusal = Refused("being_migrated")
            self._record(door, actor, names, refusal)
            raise refusal from None

    def _record(self, door: str, actor: str, names: tuple[str, str], refusal: Refused) -> None:
        self.recorder.record_refusal(door, actor, names[0], names[1] or None, refusal, action="undo")

    def _decide(self, connection: Connection, record_id: int, *, lock: bool):
        """(preview, snapshot row, old device id, new device id), or the refusal (``rules.check``)."""
        found = undo_rows.kept(connection, record_id, lock=lock)
        if found is None:
            raise Refused("unknown_record", f"no migration record {record_id}")
        record, snapshot = found
        old_id = undo_rows.device_id_by_uid(connection, record.old_device_uid) if record.old_device_uid else None
        if old_id is not None and lock:
            undo_rows.lock_device(connection, old_id)
        new_id = undo_rows.device_id_by_uid(connection, snapshot.new_device_uid) if snapshot else None
        if new_id is not None and lock:
            undo_rows.lock_device(connection, new_id)  # a migration of the new phone racing this undo waits or loses
        old_now = undo_rows.capture(connection, old_id) if old_id is not None and snapshot else None
        new_now = undo_rows.capture(connection, new_id) if new_id is not None else None
        facts = rules.UndoFacts(
            record_id=record_id, outcome=record.outcome, action=record.action, at=record.at,
            policy=(record.details or {}).get("policy", "retain"), has_snapshot=snapshot is not None,
            undone=snapshot is not None and snapshot.undone_at is not None,
            old_device=record.old_device or "", new_device=record.new_device or "",
            old_exists=old_id is not None, new_exists=new_id is not None,
            new_migrated_again=snapshot is not None and undo_rows.migrated_since(connection, snapshot.new_device_uid),
            old_changes=rules.changes(snapshot.old_after, old_now) if old_now else [],
            new_changes=rules.changes(snapshot.new_after, new_now) if new_now else [],
        )
        rules.check(facts, load_settings(connection).replacement_policy,
                    load_settings(connection).undo_window_hours, self.clock())
        return _preview(record_id, facts, snapshot.before, old_now), snapshot, old_id, new_id


def _preview(record_id: int, facts: rules.UndoFacts, before: dict, now: dict) -> UndoPreview:
    lines = [f"{line['position']}: {line['pattern']}" + (f" ({line['partition']})" if line["partition"] else "")
             + (f" {line['label']}" if line["label"] else "") for line in before["lines"]]
    features = [f"{b['position']}: {b['feature']} {b['target']}" + (f" {b['label']}" if b["label"] else "")
                for b in before["features"]]
    restored = [f"{name}: {now['device'].get(name)!r} -> {value!r}" for name, value in before["device"].items()
                if name not in rules.VOLATILE and now["device"].get(name) != value]
    return UndoPreview(record_id, facts.old_device, facts.new_device, lines, features,
                       [f"{k['slot']}: {k['model']}" for k in before["kems"]], restored)
