"""U-1's reads and writes: a device's rows as a snapshot (``models.rules.undo``'s
format), the kept snapshots, and the old phone's rows written back.

A snapshot is read with four prepared statements on the transaction's connection; dates
are ISO text, as JSON holds them, so a snapshot read back from the database
compares equal to one just taken.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, delete, insert, select, update
from sqlalchemy.engine import Connection
from sqlmodel import Session

from models.rules.undo import FORMAT, VOLATILE
from models.storage.prepared import Prepared
from models.storage.queries import ROW_ID_MAX
from models.storage.stamp import bump
from models.tables.devices import Device, KemModule
from models.tables.lines import DirectoryNumber, FeatureButton, LineAppearance
from models.tables.records import MigrationRecord
from models.tables.undo import MigrationSnapshot

DEVICE, LINES, FEATURES, KEMS = (Device.__table__, LineAppearance.__table__, FeatureButton.__table__,
                                 KemModule.__table__)
SNAPSHOTS = MigrationSnapshot.__table__
_LINE_COLUMNS = ("position", "dn_id", "label", "display_name", "ascii_display_name", "line_template", "settings")
_FEATURE_COLUMNS = ("position", "feature", "target", "label")


def _plain(row: dict[str, Any]) -> dict[str, Any]:
    """A row's values as JSON holds them: dates as ISO text (the JSON columns are dicts already)."""
    return {k: v.isoformat() if isinstance(v, datetime) else v for k, v in row.items()}


_DEVICE = Prepared(select(DEVICE).where(DEVICE.c.id == bindparam("device")))
_LINES = Prepared(
    select(*(LINES.c[name] for name in _LINE_COLUMNS), DirectoryNumber.pattern, DirectoryNumber.partition)
    .join(DirectoryNumber.__table__, DirectoryNumber.__table__.c.id == LINES.c.dn_id)
    .where(LINES.c.device_id == bindparam("device")).order_by(LINES.c.position))
_FEATURES = Prepared(select(*(FEATURES.c[name] for name in _FEATURE_COLUMNS))
                     .where(FEATURES.c.device_id == bindparam("device")).order_by(FEATURES.c.position))
_KEMS = Prepared(select(KEMS.c.slot, KEMS.c.model).where(KEMS.c.device_id == bindparam("device"))
                 .order_by(KEMS.c.slot))
_INSERT_SNAPSHOT = Prepared.insert(SNAPSHOTS)


def capture(connection: Connection, device_id: int) -> dict[str, Any] | None:
    """The device's row and its buttons as a snapshot; None when the device is gone. Four prepared
    statements: a migration under retain takes three snapshots (bench/migrate.py)."""
    ids = {"device": device_id}
    row = _DEVICE.run(connection, ids).first()
    if row is None:
        return None
    return {"format": FORMAT, "device": _plain(row._asdict()),
            "lines": [r._asdict() for r in _LINES.run(connection, ids)],
            "features": [r._asdict() for r in _FEATURES.run(connection, ids)],
            "kems": [r._asdict() for r in _KEMS.run(connection, ids)]}


def keep(connection: Connection, record_id: int, new_device_uid: str, before: dict, old_after: dict,
         new_after: dict) -> None:
    """The snapshots of one migration, beside its record (same transaction)."""
    _INSERT_SNAPSHOT.run(connection, dict(record_id=record_id, format=FORMAT, new_device_uid=new_device_uid,
                                          before=before, old_after=old_after, new_after=new_after))


def kept(connection: Connection, record_id: int, *, lock: bool = False):
    """(record row, snapshot row or None), or None when there is no such record; ``lock``: FOR UPDATE
    on PostgreSQL (SQLite's writer already holds the database)."""
    if not 0 < record_id <= ROW_ID_MAX:  # no row has it, and the database's integer could not even hold it
        return None
    record = connection.execute(select(MigrationRecord.__table__).where(MigrationRecord.__table__.c.id == record_id)
                                ).first()
    if record is None:
        return None
    statement = select(SNAPSHOTS).where(SNAPSHOTS.c.record_id == record_id)
    return record, connection.execute(statement.with_for_update() if lock else statement).first()


def device_id_by_uid(connection: Connection, uid: str) -> int | None:
    return connection.execute(select(DEVICE.c.id).where(DEVICE.c.uid == uid)).scalar()


def migrated_since(connection: Connection, uid: str) -> bool:
    """The device with this uid was itself migrated (its record stands)."""
    table = MigrationRecord.__table__
    return connection.execute(select(table.c.id).where(table.c.old_device_uid == uid, table.c.outcome == "migrated")
                              .limit(1)).first() is not None


def restore(session: Session, device_id: int, before: dict[str, Any]) -> None:
    """Write the old phone's kept rows back: its columns (but the volatile ones) and, replacing
    what it has now, its lines, feature buttons and KEMs. Moves the site stamp."""
    bump(session)
    connection = session.connection()
    columns = {name: value for name, value in before["device"].items() if name not in VOLATILE | {"uid", "created_at"}}
    connection.execute(update(DEVICE).where(DEVICE.c.id == device_id).values(**columns))
    for table in (LINES, FEATURES, KEMS):
        connection.execute(delete(table).where(table.c.device_id == device_id))
    rows = {LINES: [{k: line[k] for k in _LINE_COLUMNS} for line in before["lines"]],
            FEATURES: before["features"], KEMS: before["kems"]}
    for table, values in rows.items():
        if values:
            connection.execute(insert(table), [{**v, "device_id": device_id} for v in values])


def mark_undone(connection: Connection, record_id: int, undo_record_id: int, at) -> None:
    """The migration's record is no longer a standing migration (C-12's one-copy index lets the
    old phone be migrated again), and its snapshot says when it was undone, by which record."""
    table = MigrationRecord.__table__
    connection.execute(update(table).where(table.c.id == record_id).values(outcome="undone"))
    connection.execute(update(SNAPSHOTS).where(SNAPSHOTS.c.record_id == record_id)
                       .values(undone_at=at, undo_record_id=undo_record_id))


def lock_device(connection: Connection, device_id: int) -> None:
    """C-12: the old phone's row lock (PostgreSQL ``FOR UPDATE NOWAIT``; SQLite's writer holds the database)."""
    if connection.dialect.name != "sqlite":
        connection.execute(select(DEVICE.c.id).where(DEVICE.c.id == device_id).with_for_update(nowait=True))
