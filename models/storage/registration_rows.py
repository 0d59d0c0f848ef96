"""The registrar's facts in the database: the ``registration`` rows, the device
columns that follow them, and the migration records they confirm (R-3, R-6).

The device's ``registration``, ``sip_contact`` and ``register_call_id`` are
written as Core statements on the transaction's connection, never through the
ORM: no config file reads them, and the ORM's hooks would move the site stamp
(``models.storage.stamp``), so every phone's refresh (500 phones every few
minutes) would throw away every cached config file that the TFTP storm is
served from (docs/benchmarks.md, "The TFTP storm").
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import and_, bindparam, select, update
from sqlalchemy.engine import Connection
from sqlmodel import Session, col

from models.rules.registration import Register
from models.tables.devices import Device
from models.tables.lines import DirectoryNumber, LineAppearance
from models.tables.records import MigrationRecord
from models.tables.registrations import Registration

_DEVICE = Device.__table__
_RECORD = MigrationRecord.__table__

_SET_STATE = (update(_DEVICE).where(_DEVICE.c.name == bindparam("device"))
              .values(registration=bindparam("state"), sip_contact=bindparam("contact"),
                      register_call_id=bindparam("call_id")))


def device_facts(connection: Connection, name: str):
    """(id, name, model, migrated, auto_registered) of a device, or None."""
    return connection.execute(
        select(_DEVICE.c.id, _DEVICE.c.name, _DEVICE.c.model, _DEVICE.c.migrated, _DEVICE.c.auto_registered)
        .where(_DEVICE.c.name == name)).first()


def line_patterns(connection: Connection, device_id: int) -> dict[int, str]:
    """Position -> DN pattern of a device's lines."""
    rows = connection.execute(
        select(LineAppearance.position, DirectoryNumber.pattern)
        .join(DirectoryNumber, col(DirectoryNumber.id) == col(LineAppearance.dn_id))
        .where(LineAppearance.device_id == device_id))
    return {position: pattern for position, pattern in rows}


def line1_devices(connection: Connection, pattern: str) -> list[str]:
    """Names of the unmigrated devices with that DN on line 1 (R-2 without Cisco's parameters)."""
    return list(connection.execute(
        select(_DEVICE.c.name)
        .join(LineAppearance.__table__, LineAppearance.__table__.c.device_id == _DEVICE.c.id)
        .join(DirectoryNumber.__table__, DirectoryNumber.__table__.c.id == LineAppearance.__table__.c.dn_id)
        .where(LineAppearance.__table__.c.position == 1, DirectoryNumber.__table__.c.pattern == pattern,
               _DEVICE.c.migrated == False)).scalars())  # noqa: E712


def set_device_state(connection: Connection, name: str, state: str, contact: str | None, call_id: str | None) -> None:
    """The device columns D-3 and C-14 read; not stamped (module docstring)."""
    connection.execute(_SET_STATE, {"device": name, "state": state, "contact": contact, "call_id": call_id})


def save(session: Session, name: str, reg: Register, now: datetime, expires: datetime) -> None:
    """Insert or refresh a device's registration row; a new Call-ID starts a new registration."""
    row = session.get(Registration, name)
    if row is None:
        row = Registration(device_name=name, aor=reg.aor, contact=reg.contact, transport=reg.transport,
                           source=reg.source, call_id=reg.call_id, registered_at=now, expires_at=expires)
    elif row.call_id != reg.call_id:
        row.registered_at = now
    row.aor, row.contact, row.received, row.transport = reg.aor, reg.contact, reg.received, reg.transport
    row.source, row.call_id, row.user_agent = reg.source, reg.call_id, reg.user_agent
    row.expires_at, row.updated_at = expires, now
    session.add(row)


def confirm(connection: Connection, name: str, now: datetime) -> list[int]:
    """R-6: the unconfirmed migrations (or provisionings) to ``name`` made before ``now``; returns their ids."""
    where = and_(_RECORD.c.new_device == name, _RECORD.c.outcome.in_(("migrated", "provisioned")),
                 _RECORD.c.confirmed_at.is_(None), _RECORD.c.at <= now)
    ids = list(connection.execute(select(_RECORD.c.id).where(where)).scalars())
    if ids:
        connection.execute(update(_RECORD).where(_RECORD.c.id.in_(ids)).values(confirmed_at=now))
    return ids


def flag_returned(connection: Connection, name: str, now: datetime) -> list[int]:
    """R-6: a migrated old phone registered again: its migration records are flagged once."""
    where = and_(_RECORD.c.old_device == name, _RECORD.c.outcome == "migrated", _RECORD.c.old_returned_at.is_(None))
    ids = list(connection.execute(select(_RECORD.c.id).where(where)).scalars())
    if ids:
        connection.execute(update(_RECORD).where(_RECORD.c.id.in_(ids)).values(old_returned_at=now))
    return ids
