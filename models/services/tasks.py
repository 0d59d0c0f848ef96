"""F-6 bulk firmware-migration tasks: a CSV of phones, checked, then pushed in batches of 200.

``BulkTasks`` is the one way any door works on a task; every method is one
transaction, the task row locked first (``FOR UPDATE`` on PostgreSQL, ``BEGIN
IMMEDIATE`` on SQLite), so a pause, a cancel or a second runner in another
process waits for the batch under way and then sees its result.

``run_next_batch`` is the unit of work: up to 200 queued devices are pushed
(for a phone known here, by MAC -> ``SEP<MAC>``: the target load becomes its
T-5 ``load_override``, and the F-5 license rule it fetches its
``<MAC>.lic`` with is recorded) and marked done in the SAME transaction, so a
crash before the commit leaves the batch queued and after it leaves it done:
no device is ever pushed twice. One task *In progress* at a time is checked,
and kept by a partial unique index whatever the locking does.

Decided here: a device not in the database fails (nothing to push it to);
a cancelled task ends *Complete* unless every processed device failed (*Review
errors*); a license-only task records the license rule and leaves the load to
the admin's bulk update (``export``); a task stays *In progress* while any of
its devices is paused one by one.
"""

from __future__ import annotations

import os
import re
import socket
import uuid
from datetime import datetime, timedelta
from typing import Any, Callable, Iterable, Mapping

from sqlalchemy import update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, func, select

from models.rules import tasks_csv
from models.rules.catalog import Catalog, default_catalog
from models.rules.clock import utcnow
from models.rules.firmware import Direction, default_facts
from models.rules.refusals import Refused
from models.rules.tasks import (
    COMPLETE,
    IN_PROGRESS,
    REVIEW_ERRORS,
    BatchResult,
    UploadResult,
    action_refusal,
    assess,
    license_rule,
    no_phone,
    pushes_load,
    settle_status,
    state_for,
)
from models.rules.tasks_csv import MAX_DEVICES, RowError
from models.services.task_leases import TaskLeases
from models.services.task_states import TaskDeviceStates
from models.services.task_views import TaskViews
from models.storage.database import Database
from models.storage.queries import devices_by_mac, in_chunks
from models.tables.devices import Device
from models.tables.tasks import MigrationTask, TaskDevice, TaskUpload

BATCH_SIZE = 200  # digest: the server pushes the migration in batches of 200 devices
LEASE_SECONDS = 30.0  # F-6a: a runner silent this long (no batch committed) is taken for dead
_NOT_TAKEN = ("error", "unknown_device", "failed", "cancelled")  # a MAC in another task in these states may be uploaded again
_HOST = re.compile(r"^[A-Za-z0-9.-]{1,253}$|^\[[0-9A-Fa-f:.]+\]$")

# Test hooks called with (stage, batch number) inside ``run_next_batch``; the
# crash tests kill the process from one. Empty in production.
BATCH_HOOKS: list[Callable[[str, int], None]] = []


# --- rules, without storage -----------------------------------------------------


def _hook(stage: str, batch: int) -> None:
    for fn in BATCH_HOOKS:
        fn(stage, batch)





class BulkTasks(TaskViews, TaskDeviceStates, TaskLeases):
    def __init__(self, db: Database, catalog: Catalog | None = None, facts: Mapping[str, Any] | None = None,
                 clock: Callable[[], datetime] = utcnow, lease_seconds: float = LEASE_SECONDS) -> None:
        self.db = db
        self.catalog = catalog or default_catalog()
        self.facts = facts or default_facts()
        self.clock = clock
        self.lease = timedelta(seconds=lease_seconds)
        self.runner = f"{socket.gethostname()[:80]}:{os.getpid()}:{uuid.uuid4().hex[:8]}"  # F-6a: this runner

    # --- tasks ---------------------------------------------------------------

    def create(self, name: str, kind: str = "license_and_device", direction: Direction = Direction.E2M,
               include_unknown: bool = False) -> MigrationTask:
        tasks_csv.check_task_name(name)
        if kind not in tasks_csv.KINDS:
            raise Refused("bad_task_kind", f'"{kind}" is not a task kind ({", ".join(tasks_csv.KINDS)})')
        try:
            with self.db.session() as session:
                if session.exec(select(MigrationTask.id).where(MigrationTask.name == name)).first():
                    raise Refused("task_exists", f'a task named "{name}" exists already: task names are unique')
                now = self.clock()
                task = MigrationTask(name=name, kind=kind, direction=Direction(direction).value,
                                     include_unknown=include_unknown, created_at=now, updated_at=now)
                session.add(task)
        except IntegrityError:  # created meanwhile by another process
            raise Refused("task_exists", f'a task named "{name}" exists already: task names are unique') from None
        return task

    def get(self, name: str) -> MigrationTask:
        with self.db.read_session() as session:
            task = self._find(session, name)
            session.expunge_all()  # a read session ends in a rollback, which would expire it
        return task

    def tasks(self) -> list[MigrationTask]:
        with self.db.read_session() as session:
            tasks = list(session.exec(select(MigrationTask).order_by(col(MigrationTask.created_at),
                                                                     col(MigrationTask.id))))
            session.expunge_all()
        return tasks

    @staticmethod
    def _find(session: Session, name: str, lock: bool = False) -> MigrationTask:
        query = select(MigrationTask).where(MigrationTask.name == name)
        task = session.exec(query.with_for_update() if lock else query).first()
        if task is None:
            raise Refused("unknown_task", f'no task named "{name}"')
        return task

    def _settle(self, session: Session, task: MigrationTask) -> dict[str, int]:
        counts = self._counts(session, task)
        status = settle_status(task.status, counts, task.upload_errors)
        now = self.clock()
        if status != task.status and status in (COMPLETE, REVIEW_ERRORS):
            task.finished_at, task.paused = now, False
        task.status, task.updated_at = status, now
        session.add(task)
        return counts

    @staticmethod
    def _counts(session: Session, task: MigrationTask) -> dict[str, int]:
        return dict(session.exec(select(TaskDevice.state, func.count()).where(TaskDevice.task_id == task.id)
                                 .group_by(TaskDevice.state)).all())

    def _check(self, session: Session, task: MigrationTask, action: str) -> dict[str, int]:
        """F-6c: refuse what the task's state does not allow (``models.rules.tasks.action_refusal``)."""
        counts = self._counts(session, task)
        refusal = action_refusal(action, task.status, task.paused, counts)
        if refusal is not None:
            code, why = refusal
            raise Refused(code, f'task "{task.name}" {why}')
        return counts

    # --- upload --------------------------------------------------------------

    def upload(self, name: str, text: str, file_name: str | None = None,
               locations: Iterable[str] | None = None) -> UploadResult:
        """F-6: add the valid rows of a CSV; refuse the others with their row and column.

        ``locations``: the names a Location must match (any case); default, the
        locations of the phones in the database."""
        if file_name is not None:
            tasks_csv.check_upload_file_name(file_name)
        with self.db.session() as session:
            task = self._find(session, name, lock=True)
            self._check(session, task, "upload")
            if locations is None:
                locations = {"Hub_None", *session.exec(select(Device.location).distinct())}
            direction = Direction(task.direction)
            parsed = tasks_csv.parse_upload(text, task.kind, direction, self.catalog, self.facts, locations)
            errors = list(parsed.errors)
            in_task = set(session.exec(select(TaskDevice.mac).where(TaskDevice.task_id == task.id)))
            elsewhere = self._in_other_tasks(session, task, [r.mac for r in parsed.rows])
            known = devices_by_mac(session, [r.mac for r in parsed.rows])
            room = MAX_DEVICES - len(in_task)
            added = 0
            for row in parsed.rows:
                if row.mac in in_task:
                    errors.append(RowError(row.row, "MAC Address", f"{row.mac} is in this task already"))
                elif row.mac in elsewhere:
                    errors.append(RowError(row.row, "MAC Address",
                                           f'{row.mac} is in task "{elsewhere[row.mac]}" already'))
                elif added >= room:
                    errors.append(RowError(row.row, "", f"the task holds {MAX_DEVICES} devices, the most a task can "
                                                        "hold: put this one in another task"))
                else:
                    verdict = assess(row.pid, row.model, direction, known.get(row.mac), self.facts)
                    state = state_for(verdict.status, task.include_unknown, row.mac in known)
                    session.add(TaskDevice(
                        task_id=task.id, account_type=row.account_type, username=row.username,
                        phone_number=row.phone_number, extension=row.extension, device_type=row.device_type,
                        model=row.model, pid=row.pid, mac=row.mac, location=row.location,
                        calling_plan=row.calling_plan, eligibility=verdict.status, reason=verdict.reason,
                        warnings=list(verdict.warnings), target_load=verdict.target_load,
                        state=state, error=no_phone(row.mac) if state == "unknown_device" else ""))
                    in_task.add(row.mac)
                    added += 1
            errors.sort(key=lambda e: e.row)
            task.upload_errors = len({e.row for e in errors})  # rows, as UploadResult.refused
            session.flush()
            counts = self._settle(session, task)
            result = UploadResult(added, tuple(errors), sum(counts.values()), tasks_csv.errors_csv(parsed, errors))
            kept = session.get(TaskUpload, task.id) or TaskUpload(task_id=task.id, added=0, total=0)
            kept.added, kept.total, kept.errors_csv = result.added, result.total, result.errors_csv
            kept.errors, kept.uploaded_at = [[e.row, e.column, e.message] for e in errors], self.clock()
            session.add(kept)
        return result

    def last_upload(self, name: str) -> UploadResult | None:
        """The task's last upload (what it added and refused, its errors CSV), or None before any."""
        with self.db.read_session() as session:
            task = self._find(session, name)
            kept = session.get(TaskUpload, task.id)
            if kept is None:
                return None
            errors = tuple(RowError(row, column, message) for row, column, message in kept.errors)
            return UploadResult(kept.added, errors, kept.total, kept.errors_csv)

    @staticmethod
    def _in_other_tasks(session: Session, task: MigrationTask, macs: list[str]) -> dict[str, str]:
        """Digest: a phone being (or already) migrated must not be in another task."""
        found: dict[str, str] = {}
        for chunk in in_chunks(macs):
            found.update(session.exec(
                select(TaskDevice.mac, MigrationTask.name)
                .join(MigrationTask, col(MigrationTask.id) == col(TaskDevice.task_id))
                .where(col(TaskDevice.mac).in_(chunk), TaskDevice.task_id != task.id,
                       col(TaskDevice.state).not_in(_NOT_TAKEN))).all())
        return found

    # --- listing (``TaskViews``: devices, pages, progress) -----------------------

    def report_csv(self, name: str, **filters: Any) -> str:
        """F-6: the status report to download: every device with its eligibility and state."""
        task = self.get(name)
        header = ("Task", *tasks_csv.COLUMNS, "PID", "Eligibility", "Reason", "Warnings", "State", "Batch",
                  "Processed at", "Target load", "License rule", "Phone load", "Error")
        rows = ((task.name, d.account_type, d.username, d.phone_number, d.extension, d.device_type, d.model,
                 d.mac, d.location, "True" if d.calling_plan else "False" if d.account_type else "", d.pid,
                 d.eligibility, d.reason, "; ".join(d.warnings), d.state, d.batch or "",
                 d.processed_at.isoformat(timespec="seconds") if d.processed_at else "", d.target_load or "",
                 d.license_rule or "", d.phone_load or "", d.error)
                for d in self.devices(name, **filters))
        return tasks_csv.write_csv(header, rows)

    def export(self, name: str) -> dict[str, str]:
        """Digest, manual completion: one bulk-update CSV per model group, file name -> content."""
        task = self.get(name)
        groups: dict[str, list[tuple]] = {}
        for d in self.devices(name):
            found = tasks_csv.export_group(d.model, Direction(task.direction), self.facts)
            if d.state in _NOT_TAKEN or found is None:
                continue
            groups.setdefault(found[0], []).append(("SEP" + d.mac, d.mac, d.model, found[1]))
        header = ("Device Name", "MAC Address", "Model", "Phone Load Name")
        return {tasks_csv.export_file_name(task.name, group): tasks_csv.write_csv(header, rows)
                for group, rows in sorted(groups.items())}

    # --- running -------------------------------------------------------------

    def start(self, name: str, tftp_server: str | None = None) -> MigrationTask:
        """F-6: queue the ready devices; one task In progress at a time. Starting a task
        that is In progress already changes nothing (a restarted runner continues it)."""
        with self.db.session() as session:
            task = self._find(session, name, lock=True)
            if task.status == IN_PROGRESS:
                return task
            self._check(session, task, "start")
            other = session.exec(select(MigrationTask.name).where(MigrationTask.status == IN_PROGRESS)).first()
            if other:
                raise Refused("task_in_progress", f'task "{other}" is in progress: one task migrates at a time, '
                                                  f'start "{name}" when it ends')
            server = (tftp_server or task.tftp_server or "").strip()
            if not _HOST.match(server):
                raise Refused("bad_tftp_server", f'"{server}" is not the TFTP server the phones fetch their '
                                                 "licenses from (a host name or address)")
            queued = session.exec(update(TaskDevice).where(TaskDevice.task_id == task.id, TaskDevice.state == "ready")
                                  .values(state="in_progress")).rowcount
            if not queued:  # the check saw some ready: another transaction took them meanwhile
                raise Refused("nothing_to_migrate", f'task "{name}" has no device ready for migration')
            now = self.clock()
            task.status, task.paused, task.tftp_server = IN_PROGRESS, False, server
            task.started_at, task.finished_at, task.updated_at = now, None, now
            self._hold(session, task)  # F-6a: the starter runs it; another process only once this lease runs out
            try:
                session.flush()
            except IntegrityError:  # PostgreSQL: another task started meanwhile; the partial unique index said no
                raise Refused("task_in_progress", "another task is in progress: one task migrates at a time") from None
        return task

    def run_next_batch(self, name: str) -> BatchResult:
        """F-6: push the next 200 queued devices in one transaction; nothing when paused or ended."""
        number = None
        with self.db.session() as session:
            task = self._find(session, name, lock=True)
            complete = failed = 0
            if task.status == IN_PROGRESS and not task.paused:
                batch = list(session.exec(select(TaskDevice).where(TaskDevice.task_id == task.id,
                                                                   TaskDevice.state == "in_progress")
                                          .order_by(col(TaskDevice.id)).limit(BATCH_SIZE)))
                if batch:
                    number = task.batches_done + 1
                    _hook("batch_selected", number)
                    complete, failed = self._push(session, task, batch, number)
                    task.batches_done = number
                    self._hold(session, task)  # F-6a: renewed in the batch's own transaction
                    _hook("batch_written", number)
            counts = self._settle(session, task)
            result = BatchResult(number, complete, failed, task.status, task.paused, counts.get("in_progress", 0))
        if number is not None:
            _hook("batch_committed", number)
        return result

    def _push(self, session: Session, task: MigrationTask, batch: list[TaskDevice], number: int) -> tuple[int, int]:
        known = devices_by_mac(session, [d.mac for d in batch])
        now, direction = self.clock(), Direction(task.direction)
        complete = 0
        for device in batch:
            phone = known.get(device.mac)
            device.batch, device.processed_at = number, now
            if phone is None:
                device.state = "failed"
                device.error = no_phone(device.mac)
            elif phone.migrated:
                device.state = "failed"
                device.error = f"{phone.name} was replaced by {phone.successor or 'a new phone'} (C-11): nothing to push"
            else:
                if pushes_load(task.kind) and device.target_load:
                    phone.load_override = device.target_load  # T-5: what its SEP<MAC>.cnf.xml now names
                    session.add(phone)
                device.license_rule = license_rule(task.tftp_server or "", device.mac, direction, self.facts)
                device.state, device.error = "complete", ""
                complete += 1
            session.add(device)
        return complete, len(batch) - complete

    # --- actions on a task or on some of its devices -----------------------------
