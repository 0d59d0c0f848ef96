"""Building and editing a site: users, directory numbers, devices.

Used by the demo site, the CLI, the admin UI/API and the BAT import, so that
the checks (MAC format, catalogue model, protocol, trivial PIN) are written once.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Iterable

from sqlmodel import Session, select

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
from models.storage.settings import load_settings, save_settings
from models.tables.devices import Device, KemModule
from models.tables.lines import DirectoryNumber, FeatureButton, LineAppearance
from models.tables.settings import DeviceDefaults
from models.tables.templates import (
    KEY_ORDERS,
    SECURITY_MODES,
    TRANSPORTS,
    PhoneButtonTemplate,
    SecurityProfile,
)
from models.tables.users import CredentialState, EndUser, UserProfile


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
    if dn is not None:
        check_extension_free(session, dn)
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
LOAD_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


def set_device_defaults(session: Session, model: str, *, load: str | None, onboarding_method: str | None,
                        catalog: Catalog) -> None:
    """S-6: a model's default load (None: the catalogue's) and onboarding method (None: none set, M-1)."""
    try:
        key = catalog.model(model).key
    except UnknownModel as exc:
        raise Refused("unknown_model", str(exc)) from None
    load = (load or "").strip() or None
    if load is not None and not LOAD_NAME.match(load):
        raise Refused("bad_load", f'load for {key}: "{load}" is not a load name (letters, digits, . _ -)')
    if onboarding_method and onboarding_method not in ONBOARDING_METHODS:
        raise Refused("bad_onboarding", f"onboarding method for {key}: one of {', '.join(ONBOARDING_METHODS)}")
    row = session.get(DeviceDefaults, key)
    if load is None and not onboarding_method:
        if row is not None:
            session.delete(row)
        return
    row = row or DeviceDefaults(model=key)
    row.load, row.onboarding_method = load, onboarding_method or None  # "" from a form: none set
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


# --- checks shared by the site's edits (services.users, services.devices) ---


def field_refusal(code: str, field: str, message: str) -> Refused:
    """A refusal about one input field; ``field`` lets a door point at it (the API's 422 ``errors``)."""
    return Refused(code, message, field=field)


def check_length(table, column: str, value: str | None, field: str | None = None) -> None:
    """The column's own limit (``max_length``), checked before PostgreSQL refuses the row."""
    limit = table.__table__.c[column].type.length
    if value is not None and len(value) > limit:
        raise field_refusal("too_long", field or column, f'"{field or column}": at most {limit} characters')


def extension_dn(session: Session, pattern: str, partition: str | None) -> DirectoryNumber:
    """A user's primary extension: in ``partition`` when given, else the one DN with that
    pattern (created in the <None> partition when there is none; refused when it is in several, S-3)."""
    if partition is not None:
        check_length(DirectoryNumber, "partition", partition)
        return get_or_create_dn(session, pattern, partition)
    found = session.exec(select(DirectoryNumber).where(DirectoryNumber.pattern == pattern).limit(2)).all()
    if len(found) > 1:
        raise field_refusal("ambiguous_dn", "primary_extension",
                       f"directory number {pattern} is in more than one partition; give the partition")
    return found[0] if found else get_or_create_dn(session, pattern, "")


def primary_extension_owner(session: Session, dn_id: int) -> EndUser | None:
    return session.exec(select(EndUser).where(EndUser.primary_extension_id == dn_id)).first()


def check_extension_free(session: Session, dn: DirectoryNumber, user: EndUser | None = None) -> None:
    """S-3: an extension (pattern and partition) is the primary extension of one user at most;
    a second would leave the self-service doors unable to tell who is calling."""
    other = primary_extension_owner(session, dn.id)
    if other is not None and other is not user:
        where = f" in partition {dn.partition}" if dn.partition else ""
        raise Refused("extension_in_use", f'extension {dn.pattern}{where} is already the primary extension of '
                      f'user "{other.user_id}"; give this user another extension, or change that user first')


def check_self_service_id(session: Session, value: str | None, user: EndUser | None = None) -> None:
    if value is None:
        return
    if not value.strip():
        raise field_refusal("bad_self_service_id", "self_service_id", '"self_service_id": empty; give null for none')
    check_length(EndUser, "self_service_id", value)
    other = session.exec(select(EndUser).where(EndUser.self_service_id == value)).first()
    if other is not None and other is not user:
        raise Refused("self_service_id_in_use", f"self-service user ID {value} belongs to another user")


def existing_profile(session: Session, name: str) -> UserProfile:
    row = session.exec(select(UserProfile).where(UserProfile.name == name)).first()
    if row is None:
        raise field_refusal("unknown_profile", "profile", f'no user profile "{name}"')
    return row


