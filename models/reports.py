"""Read side: device search, a device's public view, the migration report (C-13).

Every door that lists phones (CLI, admin UI, API) reads through here, so a
PIN hash can never leak through a forgotten column (A-6).
"""

from __future__ import annotations

import csv
import io
from typing import Iterable

from sqlmodel import Session, col, or_, select

from models.devices import Device, DevicePublic, KemModule
from models.lines import DirectoryNumber, LineAppearance
from models.records import MigrationRecord, MigrationRecordPublic
from models.templates import PhoneButtonTemplate, SecurityProfile
from models.users import EndUser

REPORT_COLUMNS = ["at", "door", "action", "actor", "old_device", "old_model", "new_device", "new_model",
                  "outcome", "code", "message", "warnings"]


def find_devices(session: Session, search: str = "", *, migrated: bool | None = None, limit: int = 500,
                 offset: int = 0) -> list[Device]:
    """Search by name, MAC, description, DN, owner or model (case-insensitive, partial)."""
    stmt = select(Device).order_by(col(Device.name))
    if migrated is not None:
        stmt = stmt.where(Device.migrated == migrated)
    if search:
        like = f"%{search.strip().lower()}%"
        by_dn = select(LineAppearance.device_id).join(
            DirectoryNumber, col(DirectoryNumber.id) == col(LineAppearance.dn_id)
        ).where(col(DirectoryNumber.pattern).ilike(like))
        by_owner = select(EndUser.id).where(col(EndUser.user_id).ilike(like))
        stmt = stmt.where(or_(
            col(Device.name).ilike(like), col(Device.description).ilike(like), col(Device.model).ilike(like),
            col(Device.id).in_(by_dn), col(Device.owner_id).in_(by_owner),
        ))
    return list(session.exec(stmt.offset(offset).limit(limit)))


def device_public(session: Session, device: Device) -> DevicePublic:
    owner = session.get(EndUser, device.owner_id) if device.owner_id else None
    template = session.get(PhoneButtonTemplate, device.button_template_id) if device.button_template_id else None
    profile = session.get(SecurityProfile, device.security_profile_id) if device.security_profile_id else None
    kems = [k.model for k in session.exec(select(KemModule).where(KemModule.device_id == device.id).order_by(col(KemModule.slot)))]
    lines = []
    for la, dn in session.exec(
        select(LineAppearance, DirectoryNumber)
        .join(DirectoryNumber, col(DirectoryNumber.id) == col(LineAppearance.dn_id))
        .where(LineAppearance.device_id == device.id).order_by(col(LineAppearance.position))
    ):
        shared = len(session.exec(select(LineAppearance.id).where(LineAppearance.dn_id == dn.id)).all()) > 1
        lines.append({"position": la.position, "directory_number": dn.pattern, "partition": dn.partition,
                      "label": la.label, "display_name": la.display_name, "shared": shared, "intercom": dn.is_intercom})
    data = device.model_dump(exclude={"id", "owner_id", "button_template_id", "security_profile_id", "uid"})
    return DevicePublic(**data, mac=device.mac, owner=owner.user_id if owner else None,
                        button_template=template.name if template else None,
                        security_profile=profile.name if profile else None, kems=kems, lines=lines)


def records(session: Session, *, outcome: str | None = None, limit: int = 1000) -> list[MigrationRecordPublic]:
    stmt = select(MigrationRecord).order_by(col(MigrationRecord.at).desc(), col(MigrationRecord.id).desc())
    if outcome:
        stmt = stmt.where(MigrationRecord.outcome == outcome)
    return [MigrationRecordPublic.model_validate(r, from_attributes=True) for r in session.exec(stmt.limit(limit))]


def migrated_old_phones(session: Session) -> list[Device]:
    """C-13: the "Migrate (old phone)" filter: old phones kept and marked migrated (S-1 retain)."""
    return find_devices(session, migrated=True)


def report_csv(rows: Iterable[MigrationRecordPublic]) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(REPORT_COLUMNS)
    for r in rows:
        data = r.model_dump()
        data["at"] = r.at.isoformat(timespec="seconds")
        data["warnings"] = "; ".join(r.warnings)
        writer.writerow([_safe_cell(data[c]) for c in REPORT_COLUMNS])
    return out.getvalue()


def _safe_cell(value) -> str:
    """Spreadsheet formula injection: a cell never starts with = + - @."""
    text = "" if value is None else str(value)
    return "'" + text if text[:1] in ("=", "+", "-", "@") else text
