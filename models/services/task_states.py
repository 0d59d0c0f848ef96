"""F-6: moving a task's devices between states (pause, resume, cancel, retry, refresh).

``TaskDeviceStates`` is the half of ``BulkTasks`` that changes device states after
upload; ``BulkTasks`` (``models.services.tasks``) provides the database, the
clock, the facts and its task look-ups (``_find``, ``_settle``, ``_counts``, ``_macs``,
``_check``).
"""
from __future__ import annotations

from typing import Callable, Iterable

from sqlalchemy import update
from sqlmodel import col, select

from models.rules.firmware import Direction
from models.rules.tasks import (
    IN_PROGRESS,
    NOT_MIGRATED,
    assess,
    no_phone,
    state_for,
)
from models.storage.queries import devices_by_mac
from models.tables.tasks import MigrationTask, TaskDevice


class TaskDeviceStates:
    def pause(self, name: str, macs: Iterable[str] | None = None) -> int:
        """F-6: the task stops after the batch under way; with ``macs``, those devices wait."""
        if macs is None:
            return self._set_paused(name, True)
        return self._move(name, macs, ("ready", "in_progress"), lambda task: "paused")

    def resume(self, name: str, macs: Iterable[str] | None = None) -> int:
        if macs is None:
            return self._set_paused(name, False)
        return self._move(name, macs, ("paused",), self._queue_state)

    def cancel(self, name: str, macs: Iterable[str] | None = None) -> int:
        """F-6: devices processed stay as they are; the others are cancelled (the whole task: it ends)."""
        return self._move(name, macs, ("ready", "in_progress", "paused"), lambda task: "cancelled",
                          whole_task=macs is None)

    def retry(self, name: str, macs: Iterable[str] | None = None) -> int:
        """Digest: errored devices back to "Ready for migration", if they pass the check again."""
        return self._reassess(name, ("error", "unknown_device", "failed"), macs,
                              check="retry" if macs is None else None)

    def refresh(self, name: str) -> int:
        """Check again with what the database knows now; for pushed devices, read the load their phone reports."""
        changed = self._reassess(name, ("ready", "error", "unknown_device"), None, check="refresh")
        with self.db.session() as session:
            task = self._find(session, name, lock=True)
            devices = list(session.exec(select(TaskDevice).where(TaskDevice.task_id == task.id,
                                                                 TaskDevice.state == "complete")))
            known = devices_by_mac(session, [d.mac for d in devices])
            for device in devices:
                phone = known.get(device.mac)
                device.phone_load = phone.reported_load if phone else None
                session.add(device)
        return changed

    def set_include_unknown(self, name: str, include: bool) -> MigrationTask:
        with self.db.session() as session:
            task = self._find(session, name, lock=True)
            task.include_unknown = include
            session.add(task)
        self._reassess(name, ("ready", "error", "unknown_device"), None)
        return self.get(name)

    def _set_paused(self, name: str, paused: bool) -> int:
        with self.db.session() as session:
            task = self._find(session, name, lock=True)
            self._check(session, task, "pause" if paused else "resume")
            task.paused, task.updated_at = paused, self.clock()
            session.add(task)
            return self._counts(session, task).get("in_progress", 0)

    @staticmethod
    def _queue_state(task: MigrationTask) -> str:
        return "in_progress" if task.status == IN_PROGRESS else "ready"

    def _move(self, name: str, macs: Iterable[str] | None, from_states: tuple[str, ...],
              to_state: Callable[[MigrationTask], str], whole_task: bool = False) -> int:
        with self.db.session() as session:
            task = self._find(session, name, lock=True)
            if whole_task:
                self._check(session, task, "cancel")
            query = update(TaskDevice).where(TaskDevice.task_id == task.id, col(TaskDevice.state).in_(from_states))
            if macs is not None:
                query = query.where(col(TaskDevice.mac).in_(self._macs(macs)))
            moved = session.exec(query.values(state=to_state(task))).rowcount
            self._settle(session, task)
        return moved

    def _reassess(self, name: str, from_states: tuple[str, ...], macs: Iterable[str] | None,
                  check: str | None = None) -> int:
        """Eligibility again, from the database as it is now; the devices that pass are queued again.
        ``check``: the whole-task action this is, refused when the task's state does not allow it (F-6c)."""
        with self.db.session() as session:
            task = self._find(session, name, lock=True)
            if check:
                self._check(session, task, check)
            query = select(TaskDevice).where(TaskDevice.task_id == task.id, col(TaskDevice.state).in_(from_states))
            if macs is not None:
                query = query.where(col(TaskDevice.mac).in_(self._macs(macs)))
            devices = list(session.exec(query))
            known = devices_by_mac(session, [d.mac for d in devices])
            moved = 0
            for device in devices:
                verdict = assess(device.pid, device.model, Direction(task.direction), known.get(device.mac), self.facts)
                state = state_for(verdict.status, task.include_unknown, device.mac in known)
                state = self._queue_state(task) if state == "ready" else state
                moved += state != device.state
                device.eligibility, device.reason = verdict.status, verdict.reason
                device.warnings, device.target_load, device.state = list(verdict.warnings), verdict.target_load, state
                if state not in NOT_MIGRATED:
                    device.error, device.batch, device.processed_at = "", None, None
                else:
                    device.error = no_phone(device.mac) if state == "unknown_device" else ""
                session.add(device)
            session.flush()
            self._settle(session, task)
        return moved
