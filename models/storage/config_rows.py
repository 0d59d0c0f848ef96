"""The rows a batch of config files is rendered from, as column rows, not ORM objects.

``models.services.provisioning.device_configs`` renders up to 200 phones at a
time when a boot storm finds its cached files stale (``bench/tftp_bootstorm.py
--stale``, docs/benchmarks.md "Session 8: the TFTP boot storm"). Loading
those devices, line appearances, feature buttons and KEMs as ORM objects cost
0.16 to 0.9 ms a phone, as much as rendering its file; the same SELECTs on the
session's Core connection return rows whose attributes carry the same names
(and JSON columns the same dicts), for a fraction of it. Read only: nothing
here is ever written back.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import func, select
from sqlmodel import Session, col

from models.storage.queries import in_chunks
from models.tables.devices import Device, KemModule
from models.tables.lines import DirectoryNumber, FeatureButton, LineAppearance

_DEVICE = Device.__table__
_LINE = LineAppearance.__table__
_DN = DirectoryNumber.__table__
_FEATURE = FeatureButton.__table__
_KEM = KemModule.__table__


@dataclass
class ConfigRows:
    """By device id: its row, its lines (line appearance columns plus ``pattern`` and
    ``partition`` of its DN, by position), feature buttons (by position) and KEM models
    (by slot); by DN id: how many line appearances the DN has on any device."""

    devices: dict[int, object] = field(default_factory=dict)
    lines: dict[int, list] = field(default_factory=dict)
    features: dict[int, list] = field(default_factory=dict)
    kems: dict[int, list[str]] = field(default_factory=dict)
    appearances: dict[int, int] = field(default_factory=dict)


def config_rows(session: Session, names: list[str]) -> ConfigRows:
    """The rows of the devices called ``names`` (those that exist), in a fixed number of queries."""
    if session.new or session.dirty or session.deleted:
        session.flush()  # what the ORM's own query would have done first (an auto-registered phone)
    connection = session.connection()
    found = ConfigRows()
    for chunk in in_chunks(names):
        found.devices.update((row.id, row) for row in connection.execute(select(_DEVICE).where(_DEVICE.c.name.in_(chunk))))
    ids = list(found.devices)
    for device_id in ids:
        found.lines[device_id], found.features[device_id], found.kems[device_id] = [], [], []
    dn_ids: set[int] = set()
    for chunk in in_chunks(ids):
        for row in connection.execute(
                select(_LINE, _DN.c.pattern, _DN.c.partition).join(_DN, _DN.c.id == _LINE.c.dn_id)
                .where(_LINE.c.device_id.in_(chunk)).order_by(_LINE.c.position)):
            found.lines[row.device_id].append(row)
            dn_ids.add(row.dn_id)
        for row in connection.execute(select(_FEATURE).where(_FEATURE.c.device_id.in_(chunk)).order_by(_FEATURE.c.position)):
            found.features[row.device_id].append(row)
        for row in connection.execute(select(_KEM.c.device_id, _KEM.c.model).where(_KEM.c.device_id.in_(chunk))
                                      .order_by(_KEM.c.slot)):
            found.kems[row.device_id].append(row.model)
    for chunk in in_chunks(sorted(dn_ids)):
        found.appearances.update(connection.execute(
            select(_LINE.c.dn_id, func.count()).where(col(_LINE.c.dn_id).in_(chunk)).group_by(_LINE.c.dn_id)).all())
    return found
