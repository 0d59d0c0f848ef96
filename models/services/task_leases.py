"""F-6a: which process runs a bulk task's batches, so a task outlives the process that started it.

A task In progress carries a lease: the runner (``host:pid:id``) and a time it
holds until. Every batch renews it in the batch's own transaction
(``BulkTasks.run_next_batch``), so a live runner keeps it and a dead one (killed,
its host gone) loses it ``lease`` after its last committed batch. Then
``claim`` hands the task to one other process, on any host: the batches are
one transaction each on the locked task row, so the new runner starts at the
first device no committed batch pushed, and none is pushed twice.

``TaskLeases`` is a half of ``BulkTasks`` (``models.services.tasks``), which
provides the database, the clock, ``runner``, ``lease`` and ``_find``.
"""

from __future__ import annotations

from sqlmodel import Session, col, func, select

from models.rules.tasks import IN_PROGRESS, runner_may_take
from models.tables.tasks import MigrationTask, TaskDevice


class TaskLeases:
    def orphaned(self) -> list[str]:
        """The tasks In progress, not paused, with devices queued, that no live runner holds."""
        now = self.clock()
        with self.db.read_session() as session:
            rows = session.exec(select(MigrationTask.id, MigrationTask.name, MigrationTask.lease_until)
                                .where(MigrationTask.status == IN_PROGRESS, col(MigrationTask.paused).is_(False)))
            free = [(task_id, name) for task_id, name, until in rows if runner_may_take(until, now)]
            return [name for task_id, name in free if self._queued(session, task_id)]

    def claim(self, name: str) -> bool:
        """Take the task's lease for this runner when it is free (or ours already); one winner across processes."""
        with self.db.session() as session:
            task = self._find(session, name, lock=True)
            if task.status != IN_PROGRESS or task.paused or not self._queued(session, task.id):
                return False
            if task.runner != self.runner and not runner_may_take(task.lease_until, self.clock()):
                return False
            self._hold(session, task)
        return True

    def release(self, name: str) -> None:
        """The runner stops (paused, ended): its lease ends now, if it still holds it."""
        with self.db.session() as session:
            task = self._find(session, name, lock=True)
            if task.runner == self.runner:
                task.runner, task.lease_until = None, None
                session.add(task)

    def _hold(self, session: Session, task: MigrationTask) -> None:
        task.runner, task.lease_until = self.runner, self.clock() + self.lease
        session.add(task)

    @staticmethod
    def _queued(session: Session, task_id: int | None) -> int:
        return session.exec(select(func.count()).select_from(TaskDevice)
                            .where(TaskDevice.task_id == task_id, TaskDevice.state == "in_progress")).one()
