"""Read side: device search, a device's public view, the migration report (C-13).

Every door that lists phones (CLI, admin UI, API) reads through here, so a
PIN hash can never leak through a forgotten column (A-6).
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Iterable, Mapping

from sqlmodel import Session, col, func, or_, select

from models.rules.auth import is_locked
from models.rules.catalog import Catalog, UnknownModel
from models.rules.clock import utcnow
from models.rules.names import normalize_device_name
from models.rules.record_filter import RecordFilter
from models.rules.refusals import Refused
from models.rules.registration import confirmation
from models.rules.security import trust_list_note
from models.rules.settings import SiteSettings
from models.services.provisioning import device_load
from models.storage.devicepools import date_time_group
from models.storage.queries import device_query, row_by_id, sorted_devices, user_query
from models.storage.settings import load_settings
from models.tables.devices import Device, DevicePublic, KemModule
from models.tables.lines import DirectoryNumber, FeatureButton, LineAppearance
from models.tables.records import MigrationRecord, MigrationRecordPublic
from models.tables.settings import DeviceDefaults
from models.tables.templates import PhoneButtonTemplate, SecurityProfile
from models.tables.users import CredentialState, EndUser, EndUserPublic, UserProfile

REPORT_COLUMNS = ["at", "door", "action", "actor", "old_device", "old_model", "new_device", "new_model",
                  "outcome", "code", "message", "warnings", "confirmation", "confirmed_at", "old_returned_at"]


def find_devices(session: Session, search: str = "", *, migrated: bool | None = None, limit: int = 500,
                 offset: int = 0) -> list[Device]:
    stmt = device_query(search, migrated=migrated).order_by(col(Device.name))
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
                        security_profile=profile.name if profile else None, kems=kems, lines=lines,
                        date_time_group=date_time_group(session, device.device_pool).public(),
                        security_note=trust_list_note(profile.name, profile.mode,
                                                      load_settings(session).secure_config_files) or ""
                        if profile else "")


def filtered(stmt, where: RecordFilter | None):
    """C-13: the records ``where`` keeps (outcome, door, a part of the actor, UTC days)."""
    if where is None:
        return stmt
    if where.outcome:
        stmt = stmt.where(MigrationRecord.outcome == where.outcome)
    if where.door:
        stmt = stmt.where(MigrationRecord.door == where.door)
    if where.actor:
        stmt = stmt.where(func.lower(MigrationRecord.actor).contains(where.actor.lower(), autoescape=True))
    if where.start:
        stmt = stmt.where(MigrationRecord.at >= where.start)
    if where.end:
        stmt = stmt.where(MigrationRecord.at < where.end)
    return stmt


def records(session: Session, *, outcome: str | None = None, limit: int = 1000,
            where: RecordFilter | None = None) -> list[MigrationRecordPublic]:
    stmt = select(MigrationRecord).order_by(col(MigrationRecord.at).desc(), col(MigrationRecord.id).desc())
    if outcome:
        stmt = stmt.where(MigrationRecord.outcome == outcome)
    return public_records(session, session.exec(filtered(stmt, where).limit(limit)))


def public_records(session: Session, rows: Iterable[MigrationRecord], now: datetime | None = None
                   ) -> list[MigrationRecordPublic]:
    """C-13 records as every door shows them, with R-6's confirmation for migrations and provisionings:
    ``confirmed``, ``applied`` (within ``migration_confirm_minutes``) or ``unconfirmed`` (overdue)."""
    within = timedelta(minutes=load_settings(session).migration_confirm_minutes)
    now = now or utcnow()
    out = []
    for row in rows:
        public = MigrationRecordPublic.model_validate(row, from_attributes=True)
        if row.outcome in ("migrated", "provisioned"):
            public.confirmation = confirmation(row.at, row.confirmed_at, now, within)
        out.append(public)
    return out


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
        for key in ("confirmed_at", "old_returned_at"):
            data[key] = data[key].isoformat(timespec="seconds") if data[key] else ""
        data["confirmation"] = data["confirmation"] or ""
        writer.writerow([_safe_cell(data[c]) for c in REPORT_COLUMNS])
    return out.getvalue()


def _safe_cell(value) -> str:
    """Spreadsheet formula injection: a cell never starts with = + - @."""
    text = "" if value is None else str(value)
    return "'" + text if text[:1] in ("=", "+", "-", "@") else text


# --- the admin web UI's reads (C-13, C-15, S-6, S-7) --------------------------



@dataclass(frozen=True)
class DeviceRow:
    """One line of the Find and List Phones page."""

    name: str
    model: str
    protocol: str
    description: str
    owner: str | None
    line1: str | None
    registration: str
    migrated: bool
    successor: str | None
    auto_registered: bool


def search_devices(session: Session, search: str = "", *, migrated: bool | None = None, limit: int = 200,
                   offset: int = 0) -> list[DeviceRow]:
    """C-13 device search as rows (owner and line 1 in two more queries); a MAC typed
    as 00:11:22:33:44:55, 00-11-... or 0011.2233.4455 finds its phone."""
    return _rows(session, find_devices(session, search, migrated=migrated, limit=limit, offset=offset))


def device_list_page(session: Session, search: str = "", *, migrated: bool | None = None,
                     fields: Mapping[str, str] | None = None, sort: str = "name", descending: bool = False,
                     limit: int = 200, offset: int = 0) -> tuple[list[DeviceRow], int]:
    """C-13 "Find and List Phones" as a list page: the search, each field's search, a column's
    order, and how many phones match in all."""
    stmt = device_query(search, migrated=migrated, fields=fields)
    total = session.exec(select(func.count()).select_from(stmt.subquery())).one()
    return _rows(session, list(session.exec(sorted_devices(stmt, sort, descending).offset(offset).limit(limit)))), total


def _rows(session: Session, devices: list[Device]) -> list[DeviceRow]:
    ids = [d.id for d in devices]
    owner_ids = {d.owner_id for d in devices if d.owner_id}
    owners = dict(session.exec(select(EndUser.id, EndUser.user_id).where(col(EndUser.id).in_(owner_ids))).all()) \
        if owner_ids else {}
    line1 = dict(session.exec(
        select(LineAppearance.device_id, DirectoryNumber.pattern)
        .join(DirectoryNumber, col(DirectoryNumber.id) == col(LineAppearance.dn_id))
        .where(col(LineAppearance.device_id).in_(ids), LineAppearance.position == 1)
    ).all()) if ids else {}
    return [DeviceRow(d.name, d.model, d.protocol, d.description, owners.get(d.owner_id), line1.get(d.id),
                      d.registration, d.migrated, d.successor, d.auto_registered) for d in devices]


@dataclass(frozen=True)
class ButtonRow:
    """A line or feature button and where it sits: "phone", "KEM" or "no free button" (C-1, C-5)."""

    position: int  # the button number: lines first, then feature buttons
    kind: str  # line | speed_dial | blf
    number: str
    partition: str
    label: str
    display_name: str
    shared: bool
    intercom: bool
    where: str


@dataclass
class DevicePage:
    device: DevicePublic
    model_display: str
    line_keys: int
    load: str
    buttons: list[ButtonRow]
    params: list[tuple[str, str, Any]]  # (label, vendorConfig name, value)
    history: list[MigrationRecordPublic]


def device_page(session: Session, name: str, catalog: Catalog) -> DevicePage:
    """A phone's page: lines (shared, intercom, on KEM), KEMs, template, security
    profile, registration, product-specific parameters, and the records naming it (C-13)."""
    name = normalize_device_name(name)
    device = session.exec(select(Device).where(Device.name == name)).first()
    if device is None:
        raise Refused("unknown_device", f"no phone named {name}")
    public = device_public(session, device)
    try:
        model = catalog.model(device.model)
        display, keys = model.display_name, model.line_keys
        kem_buttons = sum(catalog.kem(k).capacity for k in public.kems if k in model.kems)
    except UnknownModel:
        display, keys, kem_buttons = device.model, 1, 0

    def where(slot: int) -> str:
        return "phone" if slot <= keys else "KEM" if slot <= keys + kem_buttons else "no free button"

    buttons = [ButtonRow(line["position"], "line", line["directory_number"], line["partition"], line["label"],
                         line["display_name"], line["shared"], line["intercom"], where(slot))
               for slot, line in enumerate(public.lines, 1)]
    features = session.exec(select(FeatureButton).where(FeatureButton.device_id == device.id)
                            .order_by(col(FeatureButton.position)))
    buttons += [ButtonRow(len(public.lines) + i, f.feature, f.target, "", f.label, "", False, False,
                          where(len(public.lines) + i)) for i, f in enumerate(features, 1)]
    params = [(catalog.param_label(k), k, v) for k, v in sorted(public.product_params.items())]
    history = public_records(session, session.exec(
        select(MigrationRecord).where(or_(MigrationRecord.old_device == name, MigrationRecord.new_device == name))
        .order_by(col(MigrationRecord.at).desc(), col(MigrationRecord.id).desc()).limit(100)))
    load = device_load(device, session.get(DeviceDefaults, device.model), catalog)
    return DevicePage(public, display, keys, load, buttons, params, history)


def migration_record(session: Session, record_id: int) -> MigrationRecordPublic | None:
    row = row_by_id(session, MigrationRecord, record_id)
    return public_records(session, [row])[0] if row else None


def phone_templates(session: Session) -> list[dict[str, Any]]:
    """C-15: the templates "Migrate Phone" can target (those naming a model)."""
    return [t.model_dump() for t in session.exec(select(PhoneButtonTemplate).where(
        col(PhoneButtonTemplate.model).is_not(None)).order_by(col(PhoneButtonTemplate.name)))]


def user_public(session: Session, user: EndUser, now: datetime, policy: SiteSettings | None = None) -> EndUserPublic:
    """A user without the PIN hash (A-6): only whether a PIN is set and whether locked (A-4)."""
    dn = session.get(DirectoryNumber, user.primary_extension_id) if user.primary_extension_id else None
    profile = session.get(UserProfile, user.profile_id) if user.profile_id else None
    locked = is_locked(session.get(CredentialState, user.id), policy or load_settings(session), now)
    return EndUserPublic(user_id=user.user_id, self_service_id=user.self_service_id, first_name=user.first_name,
                         last_name=user.last_name, primary_extension=dn.pattern if dn else None,
                         profile=profile.name if profile else None, has_pin=user.pin_hash is not None, locked=locked)


def find_users(session: Session, search: str = "", *, now: datetime, limit: int = 200) -> list[EndUserPublic]:
    """The user search for the admin UI, with each user's public view."""
    policy = load_settings(session)
    stmt = user_query(search).order_by(col(EndUser.user_id)).limit(limit)
    return [user_public(session, u, now, policy) for u in session.exec(stmt)]


@dataclass
class UserPage:
    user: EndUserPublic
    profile: dict[str, Any] | None  # S-7 fields
    devices: list[DeviceRow]


def user_page(session: Session, user_id: str, *, now: datetime) -> UserPage:
    user = session.exec(select(EndUser).where(EndUser.user_id == user_id)).first()
    if user is None:
        raise Refused("unknown_user", f'no user "{user_id}"')
    devices = list(session.exec(select(Device).where(Device.owner_id == user.id).order_by(col(Device.name))))
    profile = session.get(UserProfile, user.profile_id) if user.profile_id else None
    return UserPage(user_public(session, user, now), profile.model_dump() if profile else None, _rows(session, devices))


def profiles(session: Session) -> list[dict[str, Any]]:
    """S-7: every user profile."""
    return [p.model_dump() for p in session.exec(select(UserProfile).order_by(col(UserProfile.name)))]


@dataclass(frozen=True)
class DefaultsRow:
    model: str
    display_name: str
    catalogue_load: str
    load: str | None
    onboarding_method: str | None  # None: none set (M-1)


def device_defaults_rows(session: Session, catalog: Catalog) -> list[DefaultsRow]:
    """S-6: every catalogue phone model (not Jabber clients) with its stored defaults."""
    stored = {d.model: d for d in session.exec(select(DeviceDefaults))}
    return [DefaultsRow(m.key, m.display_name, next(iter(m.default_loads.values()), ""),
                        stored[m.key].load if m.key in stored else None,
                        stored[m.key].onboarding_method if m.key in stored else None)
            for m in sorted(catalog.models(), key=lambda m: m.key) if not m.jabber]
