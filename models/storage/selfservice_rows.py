"""The self-service path's reads, as named functions over a Core connection.

Each runs one statement built once at import on the driver's cursor
(``models.storage.prepared``): the identify, authenticate, select and preview
steps of every IVR call and screen flow read through here. Why not the ORM or
``Connection.execute``: docs/benchmarks.md, "Session 5" (a third less Python
per screens flow, measured by ``bench/screens_cost.py``).
"""

from __future__ import annotations

from sqlalchemy import bindparam
from sqlalchemy.engine import Connection
from sqlmodel import col, select

from models.storage.prepared import Prepared
from models.tables.devices import Device
from models.tables.lines import DirectoryNumber, LineAppearance
from models.tables.users import AuthCodeThrottle, CredentialState, EndUser

_CANDIDATES = (
    select(Device.name, Device.model, Device.description, Device.registration)
    .join(LineAppearance, col(LineAppearance.device_id) == col(Device.id))
    .where(LineAppearance.dn_id == bindparam("dn"), LineAppearance.position == 1, Device.migrated == False)  # noqa: E712
)
_CANDIDATES_ANY_OWNER = Prepared(_CANDIDATES)
_CANDIDATES_OF_OWNER = Prepared(_CANDIDATES.where(Device.owner_id == bindparam("owner")))
_CANDIDATES_NO_OWNER = Prepared(_CANDIDATES.where(col(Device.owner_id).is_(None)))
_NEW_PHONE = Prepared(select(Device.model, Device.protocol, Device.auto_registered)
                      .where(Device.name == bindparam("name")))
_DNS_BY_PATTERN = Prepared(select(DirectoryNumber.id).where(DirectoryNumber.pattern == bindparam("pattern"),
                                                            DirectoryNumber.is_intercom == False))  # noqa: E712
_USER_BY_PRIMARY = Prepared(select(EndUser.id, EndUser.user_id).where(EndUser.primary_extension_id == bindparam("dn")))
_USER_PIN = Prepared(select(EndUser.id, EndUser.pin_hash).where(EndUser.id == bindparam("id")))
_USER_BY_SELF_SERVICE_ID = Prepared(select(EndUser.id, EndUser.user_id, EndUser.primary_extension_id).where(
    EndUser.self_service_id == bindparam("entry")))
_CREDENTIAL_STATE = Prepared(select(CredentialState.__table__)
                             .where(CredentialState.__table__.c.user_id == bindparam("user")))
_THROTTLE = Prepared(select(AuthCodeThrottle.__table__)
                     .where(AuthCodeThrottle.__table__.c.device_name == bindparam("device")))

ANY_OWNER = object()  # ``line1_devices``: whoever owns them (the authentication code)


def user_by_self_service_id(connection: Connection, entry: str):
    """S-3: (id, user_id, primary_extension_id) of the user with that self-service ID, or None."""
    return _USER_BY_SELF_SERVICE_ID.run(connection, {"entry": entry}).first()


def dn_ids(connection: Connection, pattern: str) -> list[int]:
    """The non-intercom directory numbers with that pattern, one per partition."""
    return _DNS_BY_PATTERN.run(connection, {"pattern": pattern}).scalars()


def user_by_primary_extension(connection: Connection, dn_id: int):
    """(id, user_id) of the user whose primary extension that DN is, or None."""
    return _USER_BY_PRIMARY.run(connection, {"dn": dn_id}).first()


def user_pin(connection: Connection, user_id: int):
    """(id, pin_hash) of a user, or None."""
    return _USER_PIN.run(connection, {"id": user_id}).first()


def credential_state(connection: Connection, user_id: int):
    """A-4: the user's failure counters as a row, or None before the first failure."""
    return _CREDENTIAL_STATE.run(connection, {"user": user_id}).first()


def code_throttle(connection: Connection, device: str):
    """A-4: a device's authentication-code counters as a row, or None."""
    return _THROTTLE.run(connection, {"device": device}).first()


def line1_devices(connection: Connection, dn_id: int, owner) -> list:
    """D-1/D-2: (name, model, description, registration) of the unmigrated devices with
    that DN on line 1; ``owner`` a user id, None for unowned devices, or ``ANY_OWNER``."""
    if owner is ANY_OWNER:
        return _CANDIDATES_ANY_OWNER.run(connection, {"dn": dn_id})
    if owner is None:
        return _CANDIDATES_NO_OWNER.run(connection, {"dn": dn_id})
    return _CANDIDATES_OF_OWNER.run(connection, {"dn": dn_id, "owner": owner})


def new_phone(connection: Connection, name: str):
    """(model, protocol, auto_registered) of the calling phone, or None when it has no record."""
    return _NEW_PHONE.run(connection, {"name": name}).first()
