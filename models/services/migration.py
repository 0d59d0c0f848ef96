"""The engine's write side: snapshot, lock, plan, apply, record (C-11..C-14).

``Migrator.migrate`` is the one way any door changes a phone: it locks the old
device, plans from what is stored at that moment (``models.rules.plan``), writes the
new device and marks or deletes the old one in ONE transaction, and records
the outcome (C-13). A refusal rolls everything back and is recorded apart.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from sqlalchemy import bindparam, update
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlmodel import Session, col, delete, select

from models.rules.catalog import Catalog, default_catalog
from models.rules.names import device_name_for_mac, normalize_device_name
from models.rules.plan import (
    DeviceSnapshot,
    FeatureSnapshot,
    LineSnapshot,
    Plan,
    Target,
    plan,
)
from models.rules.refusals import Refused
from models.rules.security import UNIVERSAL_PROFILES, ProfileSpec
from models.storage.database import Database
from models.storage.devices import (
    BEING_MIGRATED,
    _is_lock_error,
    delete_device,
    device_row,
    remove_temporary_device,
)
from models.storage.prepared import Prepared
from models.storage.settings import load_settings
from models.storage.stamp import bump
from models.tables.devices import Device, KemModule
from models.tables.lines import DirectoryNumber, FeatureButton, LineAppearance
from models.tables.records import MigrationRecord
from models.tables.templates import PhoneButtonTemplate, SecurityProfile
from models.tables.users import EndUser

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


_DEVICE_EXTRAS = Prepared(
    select(EndUser.user_id, PhoneButtonTemplate.name, PhoneButtonTemplate.kind, SecurityProfile.name,
           SecurityProfile.mode, SecurityProfile.tftp_encrypted, SecurityProfile.transport, SecurityProfile.key_order)
    .select_from(Device)
    .outerjoin(EndUser, col(EndUser.id) == col(Device.owner_id))
    .outerjoin(PhoneButtonTemplate, col(PhoneButtonTemplate.id) == col(Device.button_template_id))
    .outerjoin(SecurityProfile, col(SecurityProfile.id) == col(Device.security_profile_id))
    .where(Device.id == bindparam("device"))
)
_LINES = Prepared(
    select(LineAppearance.position, DirectoryNumber.id, DirectoryNumber.pattern, DirectoryNumber.partition,
           LineAppearance.label, LineAppearance.display_name, LineAppearance.ascii_display_name,
           LineAppearance.line_template, LineAppearance.settings, DirectoryNumber.is_intercom)
    .join(DirectoryNumber, col(DirectoryNumber.id) == col(LineAppearance.dn_id))
    .where(LineAppearance.device_id == bindparam("device"))
    .order_by(col(LineAppearance.position))
)
_FEATURES = Prepared(
    select(FeatureButton.position, FeatureButton.feature, FeatureButton.target, FeatureButton.label)
    .where(FeatureButton.device_id == bindparam("device")).order_by(col(FeatureButton.position))
)
_KEMS = Prepared(select(KemModule.model).where(KemModule.device_id == bindparam("device")).order_by(col(KemModule.slot)))
_TEMPLATE_BY_NAME = Prepared(select(PhoneButtonTemplate.id, PhoneButtonTemplate.model, PhoneButtonTemplate.protocol)
                             .where(PhoneButtonTemplate.name == bindparam("name")))
_MARK_MIGRATED = Prepared(update(Device.__table__).where(Device.__table__.c.id == bindparam("device"))
                          .values(migrated=True, successor=bindparam("successor")))
_PROFILE_ID_BY_NAME = Prepared(select(SecurityProfile.id).where(SecurityProfile.name == bindparam("name")))
# The migration's rows: the columns' own defaults fill what the plan leaves out.
# A model object would cost more to build than its row to write.
_INSERT_DEVICE = Prepared.insert(Device.__table__, returning=[Device.__table__.c.id])
_INSERT_RECORD = Prepared.insert(MigrationRecord.__table__, returning=[MigrationRecord.__table__.c.id])
_INSERT_LINE = Prepared.insert(LineAppearance.__table__)
_INSERT_FEATURE = Prepared.insert(FeatureButton.__table__)
_INSERT_KEM = Prepared.insert(KemModule.__table__)


def snapshot(connection: Connection, device) -> DeviceSnapshot:  # device: a Device or its row
    ids = {"device": device.id}
    owner, template, kind, profile, mode, encrypted, transport, key_order = _DEVICE_EXTRAS.run(connection, ids).one()
    lines = tuple(
        LineSnapshot(
            position=position, dn_id=dn_id, pattern=pattern, partition=partition, label=label,
            display_name=display_name, ascii_display_name=ascii_name, line_template=line_template,
            settings=dict(settings or {}), is_intercom=is_intercom,
        )
        for position, dn_id, pattern, partition, label, display_name, ascii_name, line_template, settings, is_intercom
        in _LINES.run(connection, ids)
    )
    features = tuple(FeatureSnapshot(*row) for row in _FEATURES.run(connection, ids))
    kems = tuple(_KEMS.run(connection, ids).scalars())
    return DeviceSnapshot(
        **{k: getattr(device, k) for k in _COPIED_FIELDS},
        product_params=dict(device.product_params or {}),
        owner=owner,
        template_name=template,
        template_kind=kind,
        security=ProfileSpec(profile, mode, encrypted, transport, key_order) if profile else None,
        kems=kems,
        lines=lines,
        features=features,
    )


_COPIED_FIELDS = tuple(
    name for name in DeviceSnapshot.__dataclass_fields__
    if name in Device.model_fields and name not in ("product_params",)
)


def _refusal_for(exc: Exception, new_name: str | None) -> Refused | None:
    """A constraint or lock that a concurrent migration tripped, in words."""
    text = str(getattr(exc, "orig", exc))
    if isinstance(exc, IntegrityError):
        if "device.name" in text or "device_name_key" in text or "ix_device_name" in text:
            return Refused("mac_in_use", f"a phone named {new_name} was created at the same moment; choose another MAC")
        return Refused("being_migrated", BEING_MIGRATED)
    return Refused("being_migrated", BEING_MIGRATED) if _is_lock_error(exc) else None


def template_lookup(connection: Connection):
    def lookup(name: str):
        row = _TEMPLATE_BY_NAME.run(connection, {"name": name}).first()
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
            snapshot(connection, old),
            target,
            device_name_for_mac(target.mac),
            self.catalog,
            replacement_policy=settings.replacement_policy,
            security_policy=settings.security_profile_policy,
            template_lookup=template_lookup(connection),
        )

    def preview(self, old_name: str, target: Target) -> Plan:
        with self.db.read_connection() as connection:
            return self._plan(connection, device_row(connection, old_name), target)

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
                if check is not None:
                    check(reads, old)
                result_plan = self._plan(reads, old, target)
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
        temporary = remove_temporary_device(session, p.new_name)
        _hook("temporary_removed")
        bump(session)  # the Core writes below pass none of the ORM hooks that move the site stamp
        new_id = _INSERT_DEVICE.run(writes, dict(
            sip_contact=temporary.sip_contact if temporary else None,  # C-14: where the restart goes
            register_call_id=temporary.register_call_id if temporary else None,
            name=p.new_name, model=p.new_model, protocol=p.new_protocol, owner_id=old.owner_id,
            button_template_id=_template(session, p), security_profile_id=_profile(session, p.security_profile),
            product_params=p.product_params, registration="unregistered", load_override=None, **p.device,
        )).one().id
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
        for statement, values in ((_INSERT_LINE, rows), (_INSERT_FEATURE, buttons), (_INSERT_KEM, kems)):
            if values:
                statement.run_many(writes, values)
        _hook("lines_written")
        if p.replacement_policy == "delete":
            delete_device(session, session.get(Device, old.id))
        else:
            _MARK_MIGRATED.run(writes, {"device": old.id, "successor": p.new_name})
            if not p.old_keeps_lines:
                intercom = {la.id for la, dn in _appearances(session, old.id) if dn.is_intercom}
                session.exec(delete(LineAppearance).where(LineAppearance.device_id == old.id, col(LineAppearance.id).not_in(intercom)))
        _hook("old_updated")
        record_id = _INSERT_RECORD.run(writes, dict(
            door=door, actor=actor, action=action, old_device=p.old.name, old_device_uid=old.uid, old_model=old.model,
            new_device=p.new_name, new_model=p.new_model, outcome="migrated", warnings=p.summary(),
            details={"kems": p.kems, "template": p.template_name, "security_profile": p.security_profile,
                     "lines": len(p.lines), "policy": p.replacement_policy},
        )).one().id
        _hook("recorded")
        return record_id, temporary


def _appearances(session: Session, device_id: int):
    return session.exec(
        select(LineAppearance, DirectoryNumber)
        .join(DirectoryNumber, col(DirectoryNumber.id) == col(LineAppearance.dn_id))
        .where(LineAppearance.device_id == device_id)
    ).all()


def _template(session: Session, p: Plan) -> int:
    row = _TEMPLATE_BY_NAME.run(session.connection(), {"name": p.template_name}).first()
    if row is not None:
        return row.id
    template = PhoneButtonTemplate(name=p.template_name, kind=p.template_kind, model=p.new_model, protocol=p.new_protocol)
    session.add(template)
    session.flush()
    return template.id


def _profile(session: Session, name: str) -> int:
    found = _PROFILE_ID_BY_NAME.run(session.connection(), {"name": name}).scalar()
    if found is not None:
        return found
    spec = UNIVERSAL_PROFILES[name]
    row = SecurityProfile(name=name, mode=spec.mode, tftp_encrypted=spec.tftp_encrypted,
                          transport=spec.transport, key_order=spec.key_order, universal=True)
    session.add(row)
    session.flush()
    return row.id


