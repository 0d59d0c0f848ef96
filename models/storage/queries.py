"""Named read queries shared by services: device and user searches, start facts, throttle pruning."""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping
from datetime import datetime

from sqlalchemy import bindparam
from sqlalchemy.engine import Connection
from sqlmodel import Session, col, delete, or_, select

from models.storage.prepared import Prepared
from models.tables.devices import Device
from models.tables.lines import DirectoryNumber, LineAppearance
from models.tables.users import ADMIN_THROTTLE_PREFIX, AuthCodeThrottle, EndUser

ROW_ID_MAX = 2**31 - 1  # PostgreSQL's integer, which every id column is: no row has a larger id


def row_by_id(session, table, row_id: int):
    """``session.get`` for an id from outside (a URL): None for one no row can have, which the
    database's integer could not even hold (SQLite raises OverflowError, PostgreSQL an error)."""
    return session.get(table, row_id) if 0 < row_id <= ROW_ID_MAX else None

_START_FACTS = Prepared(select(Device.model, Device.load_override, Device.auto_registered)
                        .where(Device.name == bindparam("name")))


def start_facts(connection: Connection, name: str):
    """What the first screen needs of a phone (model, load_override, auto_registered), None when unknown.
    One prebuilt column query: the first screen is the busiest page (bench/screens.py)."""
    return _START_FACTS.run(connection, {"name": name}).first()


def prune_throttles(session: Session, *, admin: bool, window_start_before: datetime, now: datetime) -> None:
    """Drop the counters (admin logins, or devices' code guesses) whose window
    began before ``window_start_before`` and that block nothing now: a made-up
    user name or MAC leaves no row behind for longer than its window."""
    prefixed = col(AuthCodeThrottle.device_name).startswith(ADMIN_THROTTLE_PREFIX)
    session.exec(delete(AuthCodeThrottle).where(
        prefixed if admin else ~prefixed,
        col(AuthCodeThrottle.window_start) < window_start_before,
        or_(col(AuthCodeThrottle.blocked_until).is_(None), col(AuthCodeThrottle.blocked_until) <= now),
    ))


_MAC_PART = re.compile(r"^(?:[0-9A-Fa-f]{2}(?:[:-][0-9A-Fa-f]{2})+|[0-9A-Fa-f]{4}(?:\.[0-9A-Fa-f]{4})+)$")


DEVICE_FIELDS = ("name", "description", "model", "owner", "line")  # the per-field search (C-13)
DEVICE_SORTS = {"name": Device.name, "description": Device.description, "model": Device.model,
                "protocol": Device.protocol, "status": Device.registration}


def _mac_text(text: str) -> str:
    text = text.strip()
    return re.sub(r"[:.\-]", "", text) if _MAC_PART.match(text) else text


def _by_field(stmt, fields: Mapping[str, str]):
    """Each field given narrows the search: partial, any case (``line``: any of the phone's DNs)."""
    for name, value in fields.items():
        value = value.strip()
        if not value or name not in DEVICE_FIELDS:
            continue
        like = f"%{(_mac_text(value) if name == 'name' else value).lower()}%"
        if name == "owner":
            stmt = stmt.where(col(Device.owner_id).in_(select(EndUser.id).where(col(EndUser.user_id).ilike(like))))
        elif name == "line":
            stmt = stmt.where(col(Device.id).in_(select(LineAppearance.device_id).join(
                DirectoryNumber, col(DirectoryNumber.id) == col(LineAppearance.dn_id)
            ).where(col(DirectoryNumber.pattern).ilike(like))))
        else:
            stmt = stmt.where(col(getattr(Device, name)).ilike(like))
    return stmt


def sorted_devices(stmt, sort: str = "name", descending: bool = False):
    """The device search in a list's column order, then by name (unknown columns: by name)."""
    column = col(DEVICE_SORTS.get(sort, Device.name))
    order = column.desc() if descending else column.asc()
    return stmt.order_by(order, col(Device.name)) if sort in DEVICE_SORTS and sort != "name" else stmt.order_by(order)


def device_query(search: str = "", *, migrated: bool | None = None, fields: Mapping[str, str] | None = None):
    """The one device search (C-13 "Find and List Phones"): name, MAC in any usual
    spelling, description, DN, owner or model; case-insensitive and partial; ``fields``
    narrows it field by field (``DEVICE_FIELDS``)."""
    text = _mac_text(search)
    stmt = _by_field(select(Device), fields or {})
    if migrated is not None:
        stmt = stmt.where(Device.migrated == migrated)
    if text:
        like = f"%{text.lower()}%"
        by_dn = select(LineAppearance.device_id).join(
            DirectoryNumber, col(DirectoryNumber.id) == col(LineAppearance.dn_id)
        ).where(col(DirectoryNumber.pattern).ilike(like))
        by_owner = select(EndUser.id).where(col(EndUser.user_id).ilike(like))
        stmt = stmt.where(or_(
            col(Device.name).ilike(like), col(Device.description).ilike(like), col(Device.model).ilike(like),
            col(Device.id).in_(by_dn), col(Device.owner_id).in_(by_owner),
        ))
    return stmt


def user_query(search: str = ""):
    """The one user search: user ID, name, self-service ID or primary extension (partial, any case)."""
    stmt = select(EndUser)
    if search.strip():
        like = f"%{search.strip().lower()}%"
        by_dn = select(DirectoryNumber.id).where(col(DirectoryNumber.pattern).ilike(like))
        stmt = stmt.where(or_(col(EndUser.user_id).ilike(like), col(EndUser.first_name).ilike(like),
                              col(EndUser.last_name).ilike(like), col(EndUser.self_service_id).ilike(like),
                              col(EndUser.primary_extension_id).in_(by_dn)))
    return stmt


def extension_choices(session: Session) -> list[tuple[DirectoryNumber, str | None]]:
    """The DNs a user's primary extension may be (S-3): neither intercom nor taken from the
    auto-registration range (T-4), by pattern and partition, each with the user ID whose primary
    extension it already is (None: free)."""
    stmt = (select(DirectoryNumber, EndUser.user_id)
            .outerjoin(EndUser, col(EndUser.primary_extension_id) == DirectoryNumber.id)
            .where(col(DirectoryNumber.is_intercom).is_(False), col(DirectoryNumber.auto_registered).is_(False))
            .order_by(col(DirectoryNumber.pattern), col(DirectoryNumber.partition)))
    return [(dn, owner) for dn, owner in session.exec(stmt)]


def devices_by_mac(session: Session, macs: Iterable[str]) -> dict[str, Device]:
    names = ["SEP" + m for m in macs]
    found: dict[str, Device] = {}
    for chunk in in_chunks(names):
        found.update({d.name[3:]: d for d in session.exec(select(Device).where(col(Device.name).in_(chunk)))})
    return found


IN_LIST_SIZE = 500  # values per IN (...) list: well under SQLite's 32766 bound parameters


def in_chunks(values: Iterable, size: int = IN_LIST_SIZE) -> Iterator[list]:
    """``values`` in lists of at most ``size``, for ``IN (...)`` queries over many keys."""
    chunk: list = []
    for value in values:
        chunk.append(value)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk
