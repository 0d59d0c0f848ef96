"""M-5: activation codes. An admin issues one for a user and a model; the new
phone's screen takes it and the phone's MAC is bound to that pre-built device.

A code is 16 random digits (about 53 bits), shown once when issued and stored
only as its SHA-256 (a high-entropy one-time code needs a lookup, not a slow
hash; PINs, which are guessable, use argon2). Codes expire and are used once.

The functions take the caller's session (the demo loader and the CLI compose
them); ``Activation`` is the doors' way in, one transaction a method.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta

from sqlmodel import Session, col, select

from models.rules.catalog import Catalog, UnknownModel
from models.rules.clock import utcnow
from models.rules.names import device_name_for_mac
from models.rules.refusals import Refused
from models.services.site import LineSpec, create_device, find_user
from models.storage.database import Database
from models.storage.devices import delete_device
from models.storage.queries import row_by_id
from models.tables.activation import ActivationCode, ActivationCodePublic
from models.tables.devices import Device
from models.tables.lines import DirectoryNumber
from models.tables.users import EndUser

CODE_DIGITS = 16
VALID_DAYS = 7


def _digest(code: str) -> str:
    return hashlib.sha256(code.encode()).hexdigest()


def issue(session: Session, user_id: str, model: str, catalog: Catalog, now: datetime | None = None,
          days: int = VALID_DAYS) -> tuple[str, ActivationCode]:
    """A new code and the pre-built device it activates (named BAT + 12 hex, as the call control does)."""
    now = now or utcnow()
    user = find_user(session, user_id)
    try:
        phone = catalog.model(model)
    except UnknownModel as exc:
        raise Refused("unknown_model", str(exc)) from None
    if phone.jabber or not phone.screens_supported:
        raise Refused("unsupported_model", f"{phone.display_name} can't be onboarded with an activation code here")
    code = "".join(secrets.choice("0123456789") for _ in range(CODE_DIGITS))
    placeholder = secrets.token_hex(6).upper()
    lines = []
    if user.primary_extension_id:
        dn = session.get(DirectoryNumber, user.primary_extension_id)
        lines = [LineSpec(dn.pattern, dn.partition, label=user.display_name, display_name=user.display_name)]
    device = create_device(session, placeholder, phone.key, owner=user.user_id, lines=lines, catalog=catalog,
                           description=f"{user.display_name} (activation code)", registration="unregistered")
    device.name = "BAT" + placeholder
    session.add(device)
    row = ActivationCode(code_hash=_digest(code), hint=code[-4:], user_id=user.id, model=phone.key,
                         device_id=device.id, created_at=now, expires_at=now + timedelta(days=days))
    session.add(row)
    session.flush()
    return code, row


def status(row: ActivationCode, now: datetime) -> str:
    if row.revoked:
        return "revoked"
    if row.used_at is not None:
        return "used"
    return "expired" if now >= row.expires_at else "valid"


def listing(session: Session, now: datetime | None = None) -> list[ActivationCodePublic]:

    now = now or utcnow()
    out = []
    for row in session.exec(select(ActivationCode).order_by(col(ActivationCode.created_at).desc())):
        user = session.get(EndUser, row.user_id)
        out.append(ActivationCodePublic(id=row.id, hint=row.hint, user=user.user_id if user else "?", model=row.model,
                                        created_at=row.created_at, expires_at=row.expires_at, used_at=row.used_at,
                                        used_by=row.used_by, revoked=row.revoked, status=status(row, now)))
    return out


def revoke(session: Session, code_id: int) -> None:
    row = row_by_id(session, ActivationCode, code_id)
    if row is None:
        raise Refused("unknown_code", f"no activation code {code_id}")
    row.revoked = True
    session.add(row)
    device = session.get(Device, row.device_id) if row.device_id else None
    if device is not None and device.name.startswith("BAT") and row.used_at is None:

        row.device_id = None  # the reference goes before the device it names
        session.flush()
        delete_device(session, device)


def redeem(session: Session, code: str, mac: str, model: str | None, catalog: Catalog,
           now: datetime | None = None) -> str:
    """M-5: bind the phone ``mac`` to the code's pre-built device; returns the device name."""
    now = now or utcnow()
    code = (code or "").strip()
    row = session.exec(select(ActivationCode).where(ActivationCode.code_hash == _digest(code))).first() \
        if code.isdigit() and len(code) == CODE_DIGITS else None
    if row is None or status(row, now) != "valid":
        raise Refused("bad_activation_code", "That activation code is not valid. Check it, or ask your administrator for a new one")
    if model is not None:
        try:
            if catalog.model(model).key != row.model:
                raise Refused("wrong_model", f"That activation code is for a Cisco {row.model}, not this phone")
        except UnknownModel:
            pass
    name = device_name_for_mac(mac)
    existing = session.exec(select(Device).where(Device.name == name)).first()
    if existing is not None:
        if not existing.auto_registered:
            raise Refused("mac_in_use", "This phone is already provisioned")

        delete_device(session, existing)
    device = session.get(Device, row.device_id)
    device.name = name
    session.add(device)
    row.used_at, row.used_by = now, name
    session.add(row)
    session.flush()
    return name


class Activation:
    """M-5 for the doors: one transaction a method, public values out (never a stored code)."""

    def __init__(self, db: Database, catalog: Catalog) -> None:
        self.db = db
        self.catalog = catalog

    def codes(self, now: datetime | None = None) -> list[ActivationCodePublic]:
        """Every code, newest first, with its last 4 digits (``hint``) and status."""
        with self.db.read_session() as session:
            return listing(session, now)

    def issue(self, user_id: str, model: str, now: datetime | None = None,
              days: int = VALID_DAYS) -> tuple[str, ActivationCodePublic]:
        """A new code, in clear this once, and its public view; the user's new phone is built with it."""
        now = now or utcnow()
        with self.db.session() as session:
            code, row = issue(session, user_id, model, self.catalog, now, days=days)
            return code, _public(row, user_id, now)

    def revoke(self, code_id: int) -> None:
        """The code revoked; an unused code's pre-built phone is deleted with it."""
        with self.db.session() as session:
            revoke(session, code_id)

    def redeem(self, code: str, mac: str, model: str | None, now: datetime | None = None) -> str:
        """The phone ``mac`` becomes the code's pre-built device; its name."""
        with self.db.session() as session:
            return redeem(session, code, mac, model, self.catalog, now)


def _public(row: ActivationCode, user_id: str, now: datetime) -> ActivationCodePublic:
    return ActivationCodePublic(id=row.id, hint=row.hint, user=user_id, model=row.model, created_at=row.created_at,
                                expires_at=row.expires_at, used_at=row.used_at, used_by=row.used_by,
                                revoked=row.revoked, status=status(row, now))
