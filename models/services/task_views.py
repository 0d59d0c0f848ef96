"""F-6: reading a bulk task: its devices (all, or one page of a filter), its progress.

``TaskViews`` is the half of ``BulkTasks`` (``models.services.tasks``) that only
reads; ``BulkTasks`` provides the database and ``_find``. A page is counted and
cut in SQL (``LIMIT``/``OFFSET``), so a page of a 1000-device task reads its 50
rows, not 1000 (docs/benchmarks.md, session 9). Each device comes with what its
phone reports, read from the phone's own row in the same query, so *confirmed*
(F-6d) is what the phone says now, not what it said at the last refresh.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Iterable

from sqlalchemy import String, and_, cast, func, literal, or_
from sqlmodel import Session, col, select

from models.rules.names import normalize_mac
from models.rules.task_summary import CONFIRMED, WAITING, confirmation
from models.rules.tasks import NOT_MIGRATED, Progress, pushes_load
from models.tables.devices import Device
from models.tables.tasks import MigrationTask, TaskDevice

_SEARCHED = ("account_type", "username", "phone_number", "extension", "device_type", "model", "pid", "mac",
             "location", "eligibility", "reason", "target_load", "state", "error", "license_rule", "phone_load")
FILTER_STATES = (CONFIRMED, WAITING)  # F-6d: besides the stored states, a page may ask for these
PAGE_SIZE = 50


@dataclass(frozen=True)
class DeviceRow:
    """A device of a task with its F-6d confirmation (None: nothing to confirm)."""

    device: TaskDevice
    confirmation: str | None


@dataclass(frozen=True)
class DevicePage:
    rows: tuple[DeviceRow, ...]
    total: int  # devices that match the filter, on every page
    offset: int
    limit: int


def _phone_name():
    return literal("SEP") + col(TaskDevice.mac)


def _confirmed_clause():
    return and_(col(TaskDevice.state) == "complete", col(TaskDevice.target_load).is_not(None),
                func.lower(col(Device.reported_load)) == func.lower(col(TaskDevice.target_load)))


class TaskViews:
    def devices(self, name: str, *, eligibility: str | None = None, state: str | None = None, search: str = "",
                macs: Iterable[str] | None = None) -> list[TaskDevice]:
        """Digest: filter by eligibility (and state), search case-insensitive and partial over every attribute."""
        return [row.device for row in self.device_page(name, eligibility=eligibility, state=state, search=search,
                                                       macs=macs, limit=None).rows]

    def device_page(self, name: str, *, eligibility: str | None = None, state: str | None = None,
                    search: str = "", macs: Iterable[str] | None = None, offset: int = 0,
                    limit: int | None = PAGE_SIZE) -> DevicePage:
        """One page of the task's devices that match, in upload order, and how many match in all.
        ``state`` may also be ``confirmed`` or ``waiting`` (F-6d); ``limit`` None: every one."""
        with self.db.read_session() as session:
            task = self._find(session, name)
            loads = pushes_load(task.kind)
            query = (select(TaskDevice, Device.reported_load)
                     .outerjoin(Device, col(Device.name) == _phone_name())
                     .where(TaskDevice.task_id == task.id))
            if eligibility:
                query = query.where(TaskDevice.eligibility == eligibility)
            if state == CONFIRMED:
                query = query.where(_confirmed_clause()) if loads else query.where(literal(False))
            elif state == WAITING:
                query = query.where(col(TaskDevice.state) == "complete", col(TaskDevice.target_load).is_not(None),
                                    or_(col(Device.reported_load).is_(None),
                                        func.lower(col(Device.reported_load)) != func.lower(col(TaskDevice.target_load)))
                                    ) if loads else query.where(literal(False))
            elif state:
                query = query.where(TaskDevice.state == state)
            if macs is not None:
                query = query.where(col(TaskDevice.mac).in_([normalize_mac(m) for m in macs]))
            query = _searched(query, search)
            total = session.exec(select(func.count()).select_from(query.subquery())).one() if limit else None
            query = query.order_by(col(TaskDevice.id)).offset(max(offset, 0))
            found = list(session.exec(query.limit(limit) if limit else query))
            session.expunge_all()
        rows = tuple(DeviceRow(d, confirmation(d.state, d.target_load if loads else None, reported))
                     for d, reported in found)
        return DevicePage(rows, len(rows) if total is None else total, offset, limit or len(rows))

    @staticmethod
    def _macs(macs: Iterable[str]) -> list[str]:
        return [normalize_mac(m) for m in macs]

    def progress(self, name: str) -> Progress:
        """For a progress bar: devices done of the devices the task migrates, the count per state, and
        of the pushed devices, how many were pushed a load and how many phones report it (F-6d)."""
        with self.db.read_session() as session:
            task = self._find(session, name)
            counts = self._counts(session, task)
            status, paused = task.status, task.paused
            to_confirm = confirmed = 0
            if pushes_load(task.kind) and counts.get("complete"):
                to_confirm, confirmed = _confirmations(session, task)
        total = sum(n for s, n in counts.items() if s not in NOT_MIGRATED)
        done = sum(counts.get(s, 0) for s in ("complete", "failed", "cancelled"))
        return Progress(status, paused, total, done, counts, confirmed, to_confirm)


def _confirmations(session: Session, task: MigrationTask) -> tuple[int, int]:
    pushed = and_(col(TaskDevice.state) == "complete", col(TaskDevice.target_load).is_not(None))
    to_confirm, confirmed = session.exec(
        select(func.count(), func.count(Device.id))
        .select_from(TaskDevice)
        .outerjoin(Device, and_(col(Device.name) == _phone_name(),
                                func.lower(col(Device.reported_load)) == func.lower(col(TaskDevice.target_load))))
        .where(TaskDevice.task_id == task.id, pushed)).one()
    return to_confirm, confirmed


def _searched(query, search: str):
    term = search.strip()
    if not term:
        return query
    columns = [col(getattr(TaskDevice, c)) for c in _SEARCHED] + [cast(TaskDevice.batch, String)]
    clauses = [c.icontains(term, autoescape=True) for c in columns]
    compact = re.sub(r"[:.\-\s]", "", term)
    if compact and compact != term:  # a MAC typed with separators
        clauses.append(col(TaskDevice.mac).icontains(compact, autoescape=True))
    return query.where(or_(*clauses))
