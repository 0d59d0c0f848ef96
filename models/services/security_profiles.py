"""C-3's inputs as every door sees and sets them: a security profile's mode, TFTP-encrypted
config flag, transport and key order, and the universal profile a migration maps it to.

The universal profiles (``models.rules.security.UNIVERSAL_PROFILES``) are what C-3
maps to and are fixed; any other profile can be made or changed. ``SecurityProfiles``
is the web doors' way in (one transaction a method); the CLI composes the functions.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlmodel import Session, col, func, select

from models.rules.refusals import Refused
from models.rules.security import UNIVERSAL_PROFILES, mapped_profile
from models.storage.database import Database
from models.tables.devices import Device
from models.tables.templates import KEY_ORDERS, SECURITY_MODES, TRANSPORTS, SecurityProfile


@dataclass(frozen=True)
class ProfileView:
    name: str
    mode: str
    tftp_encrypted: bool
    transport: str
    key_order: str
    universal: bool
    phones: int
    maps_to: str  # C-3: the universal profile a phone on it migrates to (S-2 mapped)


def _view(row: SecurityProfile, phones: int) -> ProfileView:
    return ProfileView(row.name, row.mode, row.tftp_encrypted, row.transport, row.key_order, row.universal, phones,
                       mapped_profile(row.mode, row.tftp_encrypted, row.key_order))


def list_profiles(session: Session) -> list[ProfileView]:
    counts = {pid: n for pid, n in session.exec(
        select(Device.security_profile_id, func.count()).group_by(Device.security_profile_id)).all()}
    rows = session.exec(select(SecurityProfile).order_by(col(SecurityProfile.name)))
    return [_view(row, counts.get(row.id, 0)) for row in rows]


def profile(session: Session, name: str) -> ProfileView:
    row = session.exec(select(SecurityProfile).where(SecurityProfile.name == name)).first()
    if row is None:
        raise Refused("unknown_security_profile", f'no security profile "{name}"')
    phones = session.exec(select(func.count()).select_from(Device).where(Device.security_profile_id == row.id)).one()
    return _view(row, phones)


def _check(field: str, value: str, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise Refused("bad_profile", f'security profile "{field}": one of {", ".join(allowed)}', field=field)


def set_profile(session: Session, name: str, *, mode: str, tftp_encrypted: bool, transport: str,
                key_order: str) -> ProfileView:
    """C-3: make or change a profile's four inputs; a universal profile is fixed."""
    name = (name or "").strip()
    if not name or len(name) > 128:
        raise Refused("bad_profile", 'security profile "name": 1 to 128 characters', field="name")
    if name in UNIVERSAL_PROFILES:
        raise Refused("bad_profile", f'"{name}" is a universal profile: what C-3 maps to, so it can\'t be changed')
    _check("mode", mode, SECURITY_MODES)
    _check("transport", transport, TRANSPORTS)
    _check("key_order", key_order, KEY_ORDERS)
    row = session.exec(select(SecurityProfile).where(SecurityProfile.name == name)).first() or SecurityProfile(name=name)
    row.mode, row.tftp_encrypted, row.transport, row.key_order = mode, bool(tftp_encrypted), transport, key_order
    session.add(row)
    session.flush()
    return profile(session, name)


class SecurityProfiles:
    def __init__(self, db: Database) -> None:
        self.db = db

    def list(self) -> list[ProfileView]:
        with self.db.read_session() as session:
            return list_profiles(session)

    def get(self, name: str) -> ProfileView:
        with self.db.read_session() as session:
            return profile(session, name)

    def set(self, name: str, **fields) -> ProfileView:
        with self.db.session() as session:
            return set_profile(session, name, **fields)
