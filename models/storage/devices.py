"""Finding and deleting devices: the look-ups every service shares (C-12's row lock, C-14's temporary record)."""

from __future__ import annotations

from sqlalchemy import bindparam
from sqlalchemy.engine import Connection
from sqlalchemy.exc import OperationalError
from sqlmodel import Session, delete, func, select

from models.rules.names import normalize_device_name
from models.rules.refusals import Refused
from models.storage.prepared import Prepared
from models.tables.devices import Device, KemModule
from models.tables.lines import DirectoryNumber, FeatureButton, LineAppearance
from models.tables.users import EndUser

# The statements of the hot path, built once and run on the driver
# (models.storage.prepared): column rows, not ORM objects (bench/screens.py).
_DEVICE_BY_NAME = select(Device).where(Device.name == bindparam("name"))


_DEVICE_ROW_STATEMENT = select(Device.__table__).where(Device.__table__.c.name == bindparam("name"))


_DEVICE_ROW = Prepared(_DEVICE_ROW_STATEMENT)


_DEVICE_ROW_LOCKED = Prepared(_DEVICE_ROW_STATEMENT.with_for_update(nowait=True))  # PostgreSQL (C-12)


def find_device(session: Session, name: str, *, lock: bool = False) -> Device:
    """The device by name (any MAC spelling); ``lock`` takes its row lock (C-12)."""
    locking = lock and session.get_bind().dialect.name == "postgresql"
    stmt = _DEVICE_BY_NAME.with_for_update(nowait=True) if locking else _DEVICE_BY_NAME
    return _first(lambda name: session.execute(stmt, {"name": name}).scalars().first(), name)


def device_row(connection: Connection, name: str, *, lock: bool = False):
    """``find_device`` as a row of columns, for reading only: the engine's hot path
    (an ORM object costs more to load than the row costs to read)."""
    stmt = _DEVICE_ROW_LOCKED if lock and connection.dialect.name == "postgresql" else _DEVICE_ROW
    return _first(lambda name: stmt.run(connection, {"name": name}).first(), name)


def _first(read, name: str):
    name = normalize_device_name(name)
    try:
        found = read(name)
    except OperationalError as exc:
        if _is_lock_error(exc):
            raise Refused("being_migrated") from None
        raise
    if found is None:
        raise Refused("unknown_device", f"no phone named {name}")
    return found


def _is_lock_error(exc: Exception) -> bool:
    text = str(getattr(exc, "orig", exc)).lower()
    return "could not obtain lock" in text or "database is locked" in text or "lock" in type(getattr(exc, "orig", exc)).__name__.lower()


def delete_device(session: Session, device: Device) -> None:
    """Remove a device and its buttons; auto-registration DNs left unused return to the pool."""
    dn_ids = [la.dn_id for la in session.exec(select(LineAppearance).where(LineAppearance.device_id == device.id))]
    session.exec(delete(LineAppearance).where(LineAppearance.device_id == device.id))
    session.exec(delete(FeatureButton).where(FeatureButton.device_id == device.id))
    session.exec(delete(KemModule).where(KemModule.device_id == device.id))
    session.delete(device)
    session.flush()
    release_unused_autoreg_dns(session, dn_ids)


def release_unused_autoreg_dns(session: Session, dn_ids: list[int]) -> None:
    for dn_id in dn_ids:
        dn = session.get(DirectoryNumber, dn_id)
        if dn is None or not dn.auto_registered:
            continue
        used = session.exec(select(func.count()).select_from(LineAppearance).where(LineAppearance.dn_id == dn_id)).one()
        owners = session.exec(select(func.count()).select_from(EndUser).where(EndUser.primary_extension_id == dn_id)).one()
        if not used and not owners:
            session.delete(dn)


def _refuse_taken(row, name: str) -> None:
    if not row.auto_registered:
        raise Refused("mac_in_use", f"a phone named {name} already exists; delete it first or choose another MAC")


def check_new_name_free(connection: Connection, name: str) -> None:
    """C-15: the refusal ``remove_temporary_device`` would raise at apply, raised up front (a preview):
    the new phone's name belongs to a phone that is not its own auto-registered record."""
    row = _DEVICE_ROW.run(connection, {"name": name}).first()
    if row is not None:
        _refuse_taken(row, name)


def remove_temporary_device(session: Session, name: str) -> Device | None:
    """C-14: the new phone's auto-registered record makes way; anything else is refused.

    Returns the removed record (detached) so its SIP contact can move to the new device."""
    row = _DEVICE_ROW.run(session.connection(), {"name": name}).first()  # usually none: no ORM object for that
    if row is None:
        return None
    _refuse_taken(row, name)
    existing = session.get(Device, row.id)
    delete_device(session, existing)
    return existing
