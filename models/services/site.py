"""Building and editing a site: users, directory numbers, devices.

Used by the demo site, the CLI, the admin UI/API and the BAT import, so that
the checks (MAC format, catalogue model, protocol, trivial PIN) are written once.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Iterable

from sqlmodel import Session, col, func, select

from models.rules import auth
from models.rules.catalog import (
    Catalog,
    UnknownModel,
    default_catalog,
    standard_template_name,
)
from models.rules.names import device_name_for_mac
from models.rules.refusals import Refused
from models.rules.security import UNIVERSAL_PROFILES
from models.storage.devices import delete_device, find_device
from models.storage.queries import device_query, user_query
from models.storage.settings import load_settings, save_settings
from models.tables.activation import ActivationCode
from models.tables.devices import REGISTRATION_STATES, Device, DeviceCreate, KemModule
from models.tables.lines import DirectoryNumber, FeatureButton, LineAppearance
from models.tables.records import MigrationRecord, MigrationRecordPublic
from models.tables.settings import DeviceDefaults
from models.tables.templates import (
    KEY_ORDERS,
    SECURITY_MODES,
    TRANSPORTS,
    PhoneButtonTemplate,
    SecurityProfile,
)
from models.tables.users import CredentialState, EndUser, EndUserCreate, UserProfile


@dataclass
class LineSpec:
    pattern: str
    partition: str = ""
    label: str = ""
    display_name: str = ""
    intercom: bool = False
    line_template: str = ""
    settings: dict[str, Any] = field(default_factory=dict)


def get_or_create_dn(session: Session, pattern: str, partition: str = "", **fields: Any) -> DirectoryNumber:
    if not pattern or len(pattern) > 48:
        raise Refused("bad_dn", f'"{pattern}" is not a directory number')
    dn = session.exec(
        select(DirectoryNumber).where(DirectoryNumber.pattern == pattern, DirectoryNumber.partition == partition)
    ).first()
    if dn is None:
        dn = DirectoryNumber(pattern=pattern, partition=partition, **fields)
        session.add(dn)
        session.flush()
    return dn


def get_or_create_profile(session: Session, name: str, **fields: Any) -> UserProfile:
    profile = session.exec(select(UserProfile).where(UserProfile.name == name)).first()
    if profile is None:
        profile = UserProfile(name=name, **fields)
        session.add(profile)
        session.flush()
    return profile


def find_user(session: Session, user_id: str) -> EndUser:
    user = session.exec(select(EndUser).where(EndUser.user_id == user_id)).first()
    if user is None:
        raise Refused("unknown_user", f'no user "{user_id}"')
    return user


def create_user(
    session: Session,
    user_id: str,
    *,
    extension: str | None = None,
    partition: str = "",
    pin: str | None = None,
    profile: str | None = None,
    self_service_id: str | None = None,
    first_name: str = "",
    last_name: str = "",
) -> EndUser:
    if session.exec(select(EndUser).where(EndUser.user_id == user_id)).first():
        raise Refused("user_exists", f'user "{user_id}" already exists')
    dn = get_or_create_dn(session, extension, partition) if extension else None
    prof = get_or_create_profile(session, profile) if profile else None
    user = EndUser(
        user_id=user_id, self_service_id=self_service_id, first_name=first_name, last_name=last_name,
        primary_extension_id=dn.id if dn else None, profile_id=prof.id if prof else None,
    )
    session.add(user)
    session.flush()
    if pin is not None:
        set_pin(session, user_id, pin)
    return user


def set_pin(session: Session, user_id: str, pin: str) -> None:
    """A-6: only the argon2 hash is stored; trivial PINs are refused (A-4 policy)."""
    user = find_user(session, user_id)
    extensions = [user.self_service_id or ""]
    if user.primary_extension_id:
        extensions.append(session.get(DirectoryNumber, user.primary_extension_id).pattern)
    auth.check_new_pin(pin, extensions, load_settings(session))
    user.pin_hash = auth.hash_secret(pin)
    session.add(user)


def unlock(session: Session, user_id: str) -> None:
    user = find_user(session, user_id)
    state = session.get(CredentialState, user.id)
    if state is not None:
        auth.record_success(state)
        session.add(state)


def set_auth_code(session: Session, code: str) -> None:
    """S-4: the system authentication code, 0 to 20 digits, stored hashed."""
    auth.check_auth_code_format(code)
    save_settings(session, auth_code_hash=auth.hash_secret(code))


def get_or_create_template(
    session: Session, name: str, kind: str = "custom", model: str | None = None, protocol: str | None = None
) -> PhoneButtonTemplate:
    row = session.exec(select(PhoneButtonTemplate).where(PhoneButtonTemplate.name == name)).first()
    if row is None:
        row = PhoneButtonTemplate(name=name, kind=kind, model=model, protocol=protocol)
        session.add(row)
        session.flush()
    return row


def get_or_create_security_profile(session: Session, name: str, **fields: Any) -> SecurityProfile:
    row = session.exec(select(SecurityProfile).where(SecurityProfile.name == name)).first()
    if row is None:
        spec = UNIVERSAL_PROFILES.get(name)
        if spec is not None and not fields:
            fields = dict(mode=spec.mode, tftp_encrypted=spec.tftp_encrypted, transport=spec.transport,
                          key_order=spec.key_order, universal=True)
        row = SecurityProfile(name=name, **fields)
        if row.mode not in SECURITY_MODES or row.transport not in TRANSPORTS or row.key_order not in KEY_ORDERS:
            raise Refused("bad_profile", f'security profile "{name}": mode, transport or key order not known')
        session.add(row)
        session.flush()
    return row


def create_device(
    session: Session,
    mac: str,
    model: str,
    protocol: str | None = None,
    *,
    owner: str | None = None,
    lines: Iterable[LineSpec] = (),
    features: Iterable[tuple[str, str, str]] = (),
    kems: Iterable[str] = (),
    template: str | None = None,
    security_profile: str | None = None,
    product_params: dict[str, Any] | None = None,
    catalog: Catalog | None = None,
    **fields: Any,
) -> Device:
    """A phone with its buttons; ``features`` are (feature, target, label)."""
    catalog = catalog or default_catalog()
    name = device_name_for_mac(mac)
    try:
        phone = catalog.model(model)
    except UnknownModel as exc:
        raise Refused("unknown_model", str(exc)) from None
    protocol = (protocol or phone.protocols[0]).upper()
    if protocol not in phone.protocols:
        raise Refused("bad_protocol", f"{phone.display_name} does not run {protocol}")
    if session.exec(select(Device).where(Device.name == name)).first():
        raise Refused("mac_in_use", f"a phone named {name} already exists")
    owner_row = find_user(session, owner) if owner else None
    template_row = get_or_create_template(
        session, template or standard_template_name(phone, protocol),
        "standard" if template is None or template.startswith("Standard ") else "custom", phone.key, protocol,
    )
    profile_row = get_or_create_security_profile(session, security_profile) if security_profile else None
    params = dict(phone.product_params)
    params.update(product_params or {})
    device = Device(
        name=name, model=phone.key, protocol=protocol, owner_id=owner_row.id if owner_row else None,
        button_template_id=template_row.id, security_profile_id=profile_row.id if profile_row else None,
        product_params=params, **fields,
    )
    session.add(device)
    session.flush()
    for position, spec in enumerate(lines, 1):
        dn = get_or_create_dn(session, spec.pattern, spec.partition, is_intercom=spec.intercom)
        session.add(LineAppearance(device_id=device.id, dn_id=dn.id, position=position, label=spec.label,
                                   display_name=spec.display_name, line_template=spec.line_template,
                                   settings=spec.settings))
    for position, (feature, target, label) in enumerate(features, 1):
        session.add(FeatureButton(device_id=device.id, position=position, feature=feature, target=target, label=label))
    kems = list(kems)
    for slot, kem in enumerate(kems, 1):
        kem_model = catalog.kem(kem)
        if kem_model.key not in phone.kems or len(kems) > phone.kems[kem_model.key]:
            raise Refused("bad_kem", f"{phone.display_name} takes no more than {phone.kems.get(kem_model.key, 0)} {kem_model.key}")
        session.add(KemModule(device_id=device.id, slot=slot, model=kem_model.key))
    session.flush()
    return device


# --- the admin web UI's writes (S-6, S-7) --------------------------------

ONBOARDING_METHODS = ("auto_registration", "activation_code")
_LOAD_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


def set_device_defaults(session: Session, model: str, *, load: str | None, onboarding_method: str | None,
                        catalog: Catalog) -> None:
    """S-6: a model's default load (None: the catalogue's) and onboarding method (None: none set, M-1)."""
    try:
        key = catalog.model(model).key
    except UnknownModel as exc:
        raise Refused("unknown_model", str(exc)) from None
    load = (load or "").strip() or None
    if load is not None and not _LOAD_NAME.match(load):
        raise Refused("bad_load", f'load for {key}: "{load}" is not a load name (letters, digits, . _ -)')
    if onboarding_method and onboarding_method not in ONBOARDING_METHODS:
        raise Refused("bad_onboarding", f"onboarding method for {key}: one of {', '.join(ONBOARDING_METHODS)}")
    row = session.get(DeviceDefaults, key)
    if load is None and not onboarding_method:
        if row is not None:
            session.delete(row)
        return
    row = row or DeviceDefaults(model=key)
    row.load, row.onboarding_method = load, onboarding_method
    session.add(row)


PROFILE_FIELDS = ("allow_self_provisioning", "phone_limit", "allow_reassign_from_other_user",
                  "universal_device_template", "universal_line_template")


def save_profile(session: Session, name: str, *, new: bool = False, **fields: Any) -> UserProfile:
    """S-7: create (``new``) or change a user profile; a bad value is refused with the field's name."""
    name = (name or "").strip()
    if not name or len(name) > 64:
        raise Refused("bad_profile", 'profile "name": 1 to 64 characters')
    if new and session.exec(select(UserProfile).where(UserProfile.name == name)).first():
        raise Refused("profile_exists", f'profile "name": a profile named "{name}" already exists')
    unknown = set(fields) - set(PROFILE_FIELDS)
    if unknown:
        raise Refused("bad_profile", f'profile field "{sorted(unknown)[0]}" is not known')
    if "phone_limit" in fields:
        try:
            fields["phone_limit"] = int(str(fields["phone_limit"]).strip())
        except ValueError:
            raise Refused("bad_profile", 'profile "phone_limit": a whole number from 0 to 1000') from None
        if not 0 <= fields["phone_limit"] <= 1000:
            raise Refused("bad_profile", 'profile "phone_limit": a whole number from 0 to 1000')
    for key in ("universal_device_template", "universal_line_template"):
        if key in fields and not (0 < len(str(fields[key]).strip()) <= 128):
            raise Refused("bad_profile", f'profile "{key}": 1 to 128 characters')
    profile = get_or_create_profile(session, name)
    for key, value in fields.items():
        setattr(profile, key, value.strip() if isinstance(value, str) else value)
    session.add(profile)
    return profile


def set_user_profile(session: Session, user_id: str, profile: str | None) -> None:
    """S-7: which profile a user's self-provisioning follows (None: no profile)."""
    user = find_user(session, user_id)
    row = None
    if profile:
        row = session.exec(select(UserProfile).where(UserProfile.name == profile)).first()
        if row is None:
            raise Refused("unknown_profile", f'no user profile "{profile}"')
    user.profile_id = row.id if row else None
    session.add(user)


# --- the REST API's edits and paged reads (DESIGN "Interfaces that face outward") ---


def _refused(code: str, field: str, message: str) -> Refused:
    """A refusal about one input field; ``field`` lets a door point at it (the API's 422 ``errors``)."""
    refusal = Refused(code, message)
    refusal.field = field
    return refusal


def _check_length(table, column: str, value: str | None, field: str | None = None) -> None:
    """The column's own limit (``max_length``), checked before PostgreSQL refuses the row."""
    limit = table.__table__.c[column].type.length
    if value is not None and len(value) > limit:
        raise _refused("too_long", field or column, f'"{field or column}": at most {limit} characters')


def _extension(session: Session, pattern: str, partition: str | None) -> DirectoryNumber:
    """A user's primary extension: in ``partition`` when given, else the one DN with that
    pattern (created in the <None> partition when there is none; refused when it is in several, S-3)."""
    if partition is not None:
        _check_length(DirectoryNumber, "partition", partition)
        return get_or_create_dn(session, pattern, partition)
    found = session.exec(select(DirectoryNumber).where(DirectoryNumber.pattern == pattern).limit(2)).all()
    if len(found) > 1:
        raise _refused("ambiguous_dn", "primary_extension",
                       f"directory number {pattern} is in more than one partition; give the partition")
    return found[0] if found else get_or_create_dn(session, pattern, "")


def _check_self_service_id(session: Session, value: str | None, user: EndUser | None = None) -> None:
    if value is None:
        return
    if not value.strip():
        raise _refused("bad_self_service_id", "self_service_id", '"self_service_id": empty; give null for none')
    _check_length(EndUser, "self_service_id", value)
    other = session.exec(select(EndUser).where(EndUser.self_service_id == value)).first()
    if other is not None and other is not user:
        raise Refused("self_service_id_in_use", f"self-service user ID {value} belongs to another user")


def _existing_profile(session: Session, name: str) -> UserProfile:
    row = session.exec(select(UserProfile).where(UserProfile.name == name)).first()
    if row is None:
        raise _refused("unknown_profile", "profile", f'no user profile "{name}"')
    return row


def add_user(session: Session, data: EndUserCreate) -> EndUser:
    """A new end user from the API: the table's limits, a unique self-service ID, an
    existing profile (S-7), and the PIN through ``set_pin`` (A-4 trivial check, A-6 hash)."""
    user_id = data.user_id
    if not user_id.strip() or "/" in user_id:
        raise _refused("bad_user_id", "user_id", '"user_id": 1 to 128 characters, not blank, no "/"')
    _check_length(EndUser, "user_id", user_id)
    if session.exec(select(EndUser).where(EndUser.user_id == user_id)).first():
        raise Refused("user_exists", f'user "{user_id}" already exists')
    _check_self_service_id(session, data.self_service_id)
    if data.profile is not None:
        _existing_profile(session, data.profile)
    user = create_user(session, user_id, self_service_id=data.self_service_id, first_name=data.first_name,
                       last_name=data.last_name, profile=data.profile)
    if data.primary_extension is not None:
        user.primary_extension_id = _extension(session, data.primary_extension, data.partition).id
        session.add(user)
        session.flush()
    if data.pin is not None:
        set_pin(session, user_id, data.pin)
    return user


def update_user(session: Session, user_id: str, changes: dict[str, Any]) -> EndUser:
    """``EndUserUpdate`` fields that were sent; null clears (names become empty)."""
    user = find_user(session, user_id)
    if "self_service_id" in changes:
        _check_self_service_id(session, changes["self_service_id"], user)
        user.self_service_id = changes["self_service_id"]
    for name in ("first_name", "last_name"):
        if name in changes:
            setattr(user, name, changes[name] or "")
    if "primary_extension" in changes:
        pattern = changes["primary_extension"]
        user.primary_extension_id = _extension(session, pattern, None).id if pattern is not None else None
    if "profile" in changes:
        name = changes["profile"]
        user.profile_id = _existing_profile(session, name).id if name is not None else None
    session.add(user)
    session.flush()
    return user


def user_search(session: Session, search: str = "", *, limit: int = 50,
                offset: int = 0) -> tuple[list[EndUser], int]:
    """A page of users and how many match in all (the filter of ``reports.user_query``)."""

    stmt = user_query(search)
    total = session.exec(select(func.count()).select_from(stmt.subquery())).one()
    return list(session.exec(stmt.order_by(col(EndUser.user_id)).offset(offset).limit(limit))), total


_PARAM_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]{0,63}$")


def _check_params(params: dict[str, Any]) -> None:
    """Product-specific parameters become vendorConfig elements (T-1): XML names, plain values."""
    for name, value in params.items():
        if not _PARAM_NAME.match(name):
            raise _refused("bad_param", "product_params",
                           f'product-specific parameter "{name[:64]}": not an XML name')
        if value is not None and not isinstance(value, (str, int, float, bool)):
            raise _refused("bad_param", "product_params",
                           f'product-specific parameter "{name}": a string, number or true/false')


def add_device(session: Session, data: DeviceCreate, catalog: Catalog | None = None) -> Device:
    """A new phone from the API (C-11 fields); the checks of ``create_device``, plus the
    table's limits, an existing owner and config-file-safe parameters."""
    _check_length(PhoneButtonTemplate, "name", data.button_template, "button_template")
    _check_length(SecurityProfile, "name", data.security_profile, "security_profile")
    _check_params(data.product_params)
    if data.owner is not None:
        try:
            find_user(session, data.owner)
        except Refused as exc:
            raise _refused(exc.code, "owner", exc.message) from None
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
                raise _refused("bad_device_field", key, f'"{key}": give a name')
            setattr(device, key, changes[key])
    if "registration" in changes:
        if changes["registration"] not in REGISTRATION_STATES:
            raise _refused("bad_registration", "registration",
                           f'"registration": one of {", ".join(REGISTRATION_STATES)}')
        device.registration = changes["registration"]
    if "load_override" in changes:
        load = changes["load_override"] or None
        if load is not None and not _LOAD_NAME.match(load):
            raise _refused("bad_load", "load_override", f'"load_override": "{load[:64]}" is not a load name')
        device.load_override = load  # T-5: None is the model's default load
    if "product_params" in changes:
        patch = changes["product_params"]
        if patch is None:
            raise _refused("bad_param", "product_params", '"product_params": an object of parameters to set')
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
        raise _refused("bad_registration", "state", f'"state": one of {", ".join(REGISTRATION_STATES)}')
    if contact is not None and (len(contact) > 255 or not _SIP_CONTACT.match(contact)):
        raise _refused("bad_contact", "contact", '"contact": a SIP URI such as sip:9000@192.0.2.10:5060')
    if register_call_id is not None and (not register_call_id or len(register_call_id) > 255
                                         or any(c.isspace() for c in register_call_id)):
        raise _refused("bad_call_id", "register_call_id", '"register_call_id": 1 to 255 characters, no spaces')
    if load is not None and not _LOAD_NAME.match(load):
        raise _refused("bad_load", "load", '"load": a load name such as P00305000500 (letters, digits, . _ -)')
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
                  offset: int = 0) -> tuple[list[MigrationRecordPublic], int]:
    """A page of the migration records (C-13), newest first, and how many in all."""
    stmt = select(MigrationRecord)
    if outcome:
        stmt = stmt.where(MigrationRecord.outcome == outcome)
    total = session.exec(select(func.count()).select_from(stmt.subquery())).one()
    rows = session.exec(stmt.order_by(col(MigrationRecord.at).desc(), col(MigrationRecord.id).desc())
                        .offset(offset).limit(limit))
    return [MigrationRecordPublic.model_validate(r, from_attributes=True) for r in rows], total
