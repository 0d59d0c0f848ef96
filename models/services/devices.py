"""Editing the site's phones (C-11, C-13): add, change and delete a device, its registration
state as another call control reports it (R-3), and the paged device and record searches."""

from __future__ import annotations

import re
from typing import Any

from sqlmodel import Session, col, func, select

from models.rules.catalog import (
    Catalog,
)
from models.rules.record_filter import RecordFilter
from models.rules.refusals import Refused
from models.services.reports import filtered, public_records
from models.services.site import (
    LOAD_NAME,
    check_length,
    create_device,
    field_refusal,
    find_user,
)
from models.storage.devices import delete_device, find_device
from models.storage.queries import device_query
from models.tables.activation import ActivationCode
from models.tables.devices import REGISTRATION_STATES, Device, DeviceCreate
from models.tables.records import MigrationRecord, MigrationRecordPublic
from models.tables.templates import (
    PhoneButtonTemplate,
    SecurityProfile,
)

_PARAM_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]{0,63}$")


def _check_params(params: dict[str, Any]) -> None:
    """Product-specific parameters become vendorConfig elements (T-1): XML names, plain values."""
    for name, value in params.items():
        if not _PARAM_NAME.match(name):
            raise field_refusal("bad_param", "product_params",
                           f'product-specific parameter "{name[:64]}": not an XML name')
        if value is not None and not isinstance(value, (str, int, float, bool)):
            raise field_refusal("bad_param", "product_params",
                           f'product-specific parameter "{name}": a string, number or true/false')


def add_device(session: Session, data: DeviceCreate, catalog: Catalog | None = None) -> Device:
    """A new phone from the API (C-11 fields); the checks of ``create_device``, plus the
    table's limits, an existing owner and config-file-safe parameters."""
    check_length(PhoneButtonTemplate, "name", data.button_template, "button_template")
    check_length(SecurityProfile, "name", data.security_profile, "security_profile")
    _check_params(data.product_params)
    if data.owner is not None:
        try:
            find_user(session, data.owner)
        except Refused as exc:
            raise field_refusal(exc.code, "owner", exc.message) from None
    return create_device(session, data.mac, data.model, data.protocol, owner=data.owner,
                         template=data.button_template, security_profile=data.security_profile,
                         product_params=data.product_params, catalog=catalog, description=data.description,
                         device_pool=data.device_pool, calling_search_space=data.calling_search_space,
                         location=data.location)


def update_device(session: Session, name: str, changes: dict[str, Any]) -> Device:
    """``DeviceUpdate`` fields that were sent. ``product_params`` merges (a null value removes
    the parameter); a null description or calling search space empties it. Locked like a
    migration's old phone (C-12), so an edit never lands on a phone being copied."""

    device = find_device(session, name, lock=True)
    for key in ("description", "calling_search_space"):
        if key in changes:
            setattr(device, key, changes[key] or "")
    for key in ("device_pool", "location"):
        if key in changes:
            if not changes[key]:
                raise field_refusal("bad_device_field", key, f'"{key}": give a name')
            setattr(device, key, changes[key])
    if "registration" in changes:
        if changes["registration"] not in REGISTRATION_STATES:
            raise field_refusal("bad_registration", "registration",
                           f'"registration": one of {", ".join(REGISTRATION_STATES)}')
        device.registration = changes["registration"]
    if "load_override" in changes:
        load = changes["load_override"] or None
        if load is not None and not LOAD_NAME.match(load):
            raise field_refusal("bad_load", "load_override", f'"load_override": "{load[:64]}" is not a load name')
        device.load_override = load  # T-5: None is the model's default load
    if "product_params" in changes:
        patch = changes["product_params"]
        if patch is None:
            raise field_refusal("bad_param", "product_params", '"product_params": an object of parameters to set')
        _check_params(patch)
        params = dict(device.product_params or {})
        params.update(patch)
        device.product_params = {k: v for k, v in params.items() if v is not None}
    session.add(device)
    session.flush()
    return device


_SIP_CONTACT = re.compile(r"^<?sips?:[^\s<>]+>?$", re.IGNORECASE)


def set_registration(session: Session, name: str, state: str, contact: str | None = None,
                     register_call_id: str | None = None, load: str | None = None) -> Device:
    """DESIGN "Registration state", fed by the call control: registered or not (D-3), and
    where a restart NOTIFY reaches the phone (C-14); what is not given of these is cleared.
    ``load``: the firmware the phone reports (F-7's stepping stones), kept when not given:
    a phone that unregisters still runs it."""

    if state not in REGISTRATION_STATES:
        raise field_refusal("bad_registration", "state", f'"state": one of {", ".join(REGISTRATION_STATES)}')
    if contact is not None and (len(contact) > 255 or not _SIP_CONTACT.match(contact)):
        raise field_refusal("bad_contact", "contact", '"contact": a SIP URI such as sip:9000@192.0.2.10:5060')
    if register_call_id is not None and (not register_call_id or len(register_call_id) > 255
                                         or any(c.isspace() for c in register_call_id)):
        raise field_refusal("bad_call_id", "register_call_id", '"register_call_id": 1 to 255 characters, no spaces')
    if load is not None and not LOAD_NAME.match(load):
        raise field_refusal("bad_load", "load", '"load": a load name such as P00305000500 (letters, digits, . _ -)')
    device = find_device(session, name)
    device.registration, device.sip_contact, device.register_call_id = state, contact, register_call_id
    if load is not None:
        device.reported_load = load
    session.add(device)
    session.flush()
    return device


def remove_device(session: Session, name: str) -> None:
    """Delete a phone (lines, buttons, KEMs; unused auto-registration DNs return to the pool).
    A pre-built activation-code device takes its unused code with it (M-5)."""

    device = find_device(session, name, lock=True)
    for code in session.exec(select(ActivationCode).where(ActivationCode.device_id == device.id)):
        if code.used_at is None:
            code.revoked = True
        code.device_id = None
        session.add(code)
    session.flush()
    delete_device(session, device)


def device_search(session: Session, search: str = "", *, migrated: bool | None = None, limit: int = 50,
                  offset: int = 0) -> tuple[list[Device], int]:
    """A page of the C-13 device search and how many match in all (the filter of
    ``reports.search_devices``: name, MAC in any spelling, description, DN, owner, model)."""

    stmt = device_query(search, migrated=migrated)
    total = session.exec(select(func.count()).select_from(stmt.subquery())).one()
    return list(session.exec(stmt.order_by(col(Device.name)).offset(offset).limit(limit))), total


def record_search(session: Session, *, outcome: str | None = None, limit: int | None = 50,
                  offset: int = 0, where: RecordFilter | None = None) -> tuple[list[MigrationRecordPublic], int]:
    """A page of the migration records (C-13), newest first, and how many in all."""
    stmt = select(MigrationRecord)
    if outcome:
        stmt = stmt.where(MigrationRecord.outcome == outcome)
    stmt = filtered(stmt, where)
    total = session.exec(select(func.count()).select_from(stmt.subquery())).one()
    rows = session.exec(stmt.order_by(col(MigrationRecord.at).desc(), col(MigrationRecord.id).desc())
                        .offset(offset).limit(limit))
    return public_records(session, rows), total
