"""Device pools' date/time groups (T-7): read for many pools at once, written one pool at a time."""

from __future__ import annotations

from collections.abc import Iterable

from sqlmodel import Session, col, select

from models.rules.datetime_group import DEFAULT, DateTimeGroup
from models.storage.queries import in_chunks
from models.tables.devicepools import DevicePool


def _group(row: DevicePool) -> DateTimeGroup:
    return DateTimeGroup(row.date_time_group, row.time_zone, row.olson_time_zone, row.date_template,
                         tuple(row.ntp_servers or ()))


def date_time_groups(session: Session, pools: Iterable[str]) -> dict[str, DateTimeGroup]:
    """Pool name -> its group, for the pools the site holds a group for (the others: ``DEFAULT``)."""
    found = {}
    for chunk in in_chunks(sorted(set(pools))):
        found.update({row.name: _group(row) for row in session.exec(select(DevicePool).where(col(DevicePool.name).in_(chunk)))})
    return found


def date_time_group(session: Session, pool: str) -> DateTimeGroup:
    return date_time_groups(session, [pool]).get(pool, DEFAULT)


def save_date_time_group(session: Session, pool: str, group: DateTimeGroup) -> None:
    """Give ``pool`` the (already checked) ``group``; the pool row is made when missing."""
    row = session.exec(select(DevicePool).where(DevicePool.name == pool)).first() or DevicePool(name=pool)
    row.date_time_group, row.time_zone, row.olson_time_zone = group.name, group.time_zone, group.olson_time_zone
    row.date_template, row.ntp_servers = group.date_template, list(group.ntp_servers)
    session.add(row)
