"""The engine's write side: snapshot, lock, plan, apply, record (C-11..C-14).

``Migrator.migrate`` is the one way any door changes a phone: it locks the old
device, plans from what is stored at that moment (``models.rules.plan``), writes the
new device and marks or deletes the old one in ONE transaction, and records
the outcome (C-13). A refusal rolls everything back and is recorded apart.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlmodel import Session, col, delete, select

from models.rules.catalog import Catalog, default_catalog
from models.rules.names import device_name_for_mac, normalize_device_name
from models.rules.plan import (
    Plan,
    Target,
    plan,
)
from models.rules.refusals import Refused
from models.rules.security import UNIVERSAL_PROFILES
from models.storage import migration_rows as stored
from models.storage import undo_rows
from models.storage.database import Database
from models.storage.devices import (
    _is_lock_error,
    check_new_name_free,
    delete_device,
    device_row,
    remove_temporary_device,
)
from models.storage.settings import load_settings
from models.tables.devices import Device
from models.tables.lines import DirectoryNumber, LineAppearance
from models.tables.records import MigrationRecord
from models.tables.templates import PhoneButtonTemplate, SecurityProfile

# Test hooks called between the writes of ``apply`` with a stage name; the
# crash tests kill the process from one. Empty in production.
APPLY_HOOKS: list[Callable[[str], None]] = []


@dataclass
class MigrationResult:
    plan: Plan
    new_device: str
    applied: bool
    record_id: int | None = None
    # C-14: where the new phone's restart goes, carried from its auto-registered record
    sip_contact: str | None = None
    register_call_id: str | None = None

    @property
    def warnings(self) -> list[str]:
        return self.plan.summary()


def _hook(stage: str) -> None:
    for fn in APPLY_HOOKS:
        fn(stage)


def _refusal_for(exc: Exception, new_name: str | None) -> Refused | None:
    """A constraint or lock that a concurrent migration tripped, in words."""
    text = str(getattr(exc, "orig", exc))
    if isinstance(exc, IntegrityError):
        if "device.name" in text or "device_name_key" in text or "ix_device_name" in text:
            return Refused("mac_in_use", f"a phone named {new_name} was created at the same moment; choose another MAC")
        return Refused("being_migrated")
    return Refused("being_migrated") if _is_lock_error(exc) else None


def template_lookup(connection: Connection):
    def lookup(name: str):
        row = stored.template_row(connection, name)
        return (row.model, row.protocol) if row else None

    return lookup


class Migrator:
    """Plan and apply migrations; shared by every door."""

    def __init__(self, db: Database, catalog: Catalog | None = None) -> None:
        self.db = db
        self.catalog = catalog or default_catalog()

    def _plan(self, connection: Connection, old, target: Target) -> Plan:  # old: a device row (device_row)
        settings = load_settings(connection)
        return plan(
            stored.snapshot(connection, old),
            target,
            device_name_for_mac(target.mac),
            self.catalog,
            replacement_policy=settings.replacement_policy,
            security_policy=settings.security_profile_policy,
            secure_config_files=settings.secure_config_files,
            template_lookup=template_lookup(connection),
        )

    def plan_on(self, connection: Connection, old, target: Target) -> Plan:
        """The plan from what ``connection`` reads now: a door's ``check`` re-plans under the lock (W-2)."""
        return self._plan(connection, old, target)

    def preview(self, old_name: str, target: Target) -> Plan:
        with self.db.read_connection() as connection:
            result = self._plan(connection, device_row(connection, old_name), target)
            check_new_name_free(connection, result.new_name)  # what apply refuses, said before Confirm
            return result

    def migrate(
        self,
        old_name: str,
        target: Target,
        *,
        door: str,
        actor: str = "",
        dry_run: bool = False,
        check: Callable[[Connection, Device], None] | None = None,
        action: str = "replace",
        also: Callable[[Session], None] | None = None,
    ) -> MigrationResult:
        """C-12: all or nothing; a refusal is recorded (C-13) and raised. ``also`` runs
        last in the same transaction (a door's own bookkeeping)."""
        new_name = None
        try:
            new_name = device_name_for_mac(target.mac)
            if dry_run:
                return MigrationResult(self.preview(old_name, target), new_name, applied=False)
            with self.db.session() as session:
                # Reads on the session's connection: Core rows, without the ORM's cost per statement.
                reads = session.connection()
                old = device_row(reads, old_name, lock=True)
                _hook("locked")
                # The plan first: a phone migrated meanwhile is refused as already_migrated
                # whichever door lost the race (C-12), before a door's own check says otherwise.
                result_plan = self._plan(reads, old, target)
                if check is not None:
                    check(reads, old)
                record_id, temporary = self._apply(session, old, result_plan, door=door, actor=actor, action=action)
                if also is not None:
                    also(session)
            return MigrationResult(result_plan, new_name, applied=True, record_id=record_id,
                                   sip_contact=temporary.sip_contact if temporary else None,
                                   register_call_id=temporary.register_call_id if temporary else None)
        except Refused as refusal:
            self.record_refusal(door, actor, old_name, new_name, refusal, action=action)
            raise
        except (IntegrityError, OperationalError) as exc:
            refusal = _refusal_for(exc, new_name)
            if refusal is None:
                raise
            self.record_refusal(door, actor, old_name, new_name, refusal, action=action)
            raise refusal from None

    def record_refusal(self, door, actor, old_name, new_name, refusal: Refused, *, action="replace") -> None:
        """C-13: a refusal is recorded once, in its own transaction."""
        if refusal.recorded:
            return
        refusal.recorded = True
        with self.db.session() as session:
            session.add(MigrationRecord(
                door=door, actor=actor, action=action, old_device=normalize_device_name(old_name or "") or None,
                new_device=new_name, outcome="refused", code=refusal.code, message=refusal.message,
            ))

    def _apply(self, session: Session, old, p: Plan, *, door: str, actor: str,
               action: str) -> tuple[int, Device | None]:
        """The writes, as Core statements on the session's connection (ORM
        objects only where a device is deleted); returns the record's id."""
        writes = session.connection()
        # U-1: under retain the old phone stays, so its rows are kept to give back on an undo
        before = undo_rows.capture(writes, old.id) if p.replacement_policy == "retain" else None
        temporary = remove_temporary_device(session, p.new_name)
        _hook("temporary_removed")
        new_id = stored.insert_device(session, dict(
            sip_contact=temporary.sip_contact if temporary else None,  # C-14: where the restart goes
            register_call_id=temporary.register_call_id if temporary else None,
            name=p.new_name, model=p.new_model, protocol=p.new_protocol, owner_id=old.owner_id,
            button_template_id=_template(session, p), security_profile_id=_profile(session, p.security_profile),
            product_params=p.product_params, registration="unregistered", load_override=None, **p.device,
        ))
        _hook("device_created")
        # The snapshot read these rows under the same lock: write from it, one
        # multi-row INSERT per table.
        lines = {l.position: l for l in p.old.lines}
        rows = [dict(device_id=new_id, dn_id=lines[b.source_position].dn_id, position=b.position,
                     label=lines[b.source_position].label, display_name=lines[b.source_position].display_name,
                     ascii_display_name=lines[b.source_position].ascii_display_name,
                     line_template=lines[b.source_position].line_template,
                     settings=dict(lines[b.source_position].settings)) for b in p.lines]
        features = {f.position: f for f in p.old.features}
        buttons = [dict(device_id=new_id, position=b.position, feature=features[b.source_position].feature,
                        target=features[b.source_position].target, label=features[b.source_position].label)
                   for b in p.features]
        kems = [dict(device_id=new_id, slot=slot, model=kem) for slot, kem in enumerate(p.kems, 1)]
        stored.insert_buttons(writes, rows, buttons, kems)
        _hook("lines_written")
        if p.replacement_policy == "delete":
            delete_device(session, session.get(Device, old.id))
        else:
            stored.mark_migrated(writes, old.id, p.new_name)
            if not p.old_keeps_lines:
                intercom = {la.id for la, dn in _appearances(session, old.id) if dn.is_intercom}
                session.exec(delete(LineAppearance).where(LineAppearance.device_id == old.id, col(LineAppearance.id).not_in(intercom)))
        _hook("old_updated")
        record_id = stored.insert_record(writes, dict(
            door=door, actor=actor, action=action, old_device=p.old.name, old_device_uid=old.uid, old_model=old.model,
            new_device=p.new_name, new_model=p.new_model, outcome="migrated", warnings=p.summary(),
            details={"kems": p.kems, "template": p.template_name, "security_profile": p.security_profile,
                     "lines": len(p.lines), "policy": p.replacement_policy},
        ))
        if before is not None:
            new_after = undo_rows.capture(writes, new_id)
            undo_rows.keep(writes, record_id, new_after["device"]["uid"], before, undo_rows.capture(writes, old.id),
                           new_after)
        _hook("recorded")
        return record_id, temporary


def _appearances(session: Session, device_id: int):
    return session.exec(
        select(LineAppearance, DirectoryNumber)
        .join(DirectoryNumber, col(DirectoryNumber.id) == col(LineAppearance.dn_id))
        .where(LineAppearance.device_id == device_id)
    ).all()


def _template(session: Session, p: Plan) -> int:
    return _made_once(session, lambda: getattr(stored.template_row(session.connection(), p.template_name), "id", None),
                      lambda: PhoneButtonTemplate(name=p.template_name, kind=p.template_kind, model=p.new_model,
                                                  protocol=p.new_protocol))


def _profile(session: Session, name: str) -> int:
    def make() -> SecurityProfile:
        spec = UNIVERSAL_PROFILES[name]
        return SecurityProfile(name=name, mode=spec.mode, tftp_encrypted=spec.tftp_encrypted,
                               transport=spec.transport, key_order=spec.key_order, universal=True)

    return _made_once(session, lambda: stored.profile_id(session.connection(), name), make)


def _made_once(session: Session, find: Callable[[], int | None], make: Callable[[], object]) -> int:
    """The id of a row found by ``find``, else of the row ``make`` builds, inserted in a savepoint: when
    another transaction inserts the same name at the same moment (two hosts' first migrations to one
    model, H-1) ours waits for it and fails on the unique name; its row, committed by then, is taken."""
    found = find()
    if found is not None:
        return found
    try:
        with session.begin_nested():
            row = make()
            session.add(row)
        return row.id
    except IntegrityError:
        found = find()
        if found is None:
            raise
        return found


