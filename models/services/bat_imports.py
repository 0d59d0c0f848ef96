"""E-4: the admin UI's BAT imports as rows, so an import's page answers from any web process or host.

The import itself is ``models.services.bat.import_bat``: one transaction, which holds
the database's writer until it ends. So an import's row is written before the import
starts and once it has ended, never while it runs, and the counts of a running import
("phone N of M") live in the process that runs it (``phoneservice.web.bat_jobs``);
another process shows it running, without them.

One import at a time on the site: a second is refused while the first runs (a partial
unique index decides between two processes starting one at the same moment). A
running row whose process is gone (``models.rules.bat_imports.abandoned``) is shown,
and then recorded, as failed: its transaction died with it, nothing was imported.
"""

from __future__ import annotations

import os
import secrets
import socket
from datetime import datetime
from typing import Callable

from sqlalchemy.exc import IntegrityError
from sqlmodel import col, delete, select

from models.rules.bat_imports import ABANDONED, FAILED, KEEP_AFTER_END, KEEP_MAX, RUNNING, abandoned
from models.rules.clock import utcnow
from models.storage.database import Database
from models.tables.bat_imports import BatImport


class ImportRunning(Exception):
    """Another import runs on the site; ``running`` is its row."""

    def __init__(self, running: BatImport) -> None:
        super().__init__("an import is running")
        self.running = running


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # somebody else's process holds that pid
        return True
    return True


class BatImports:
    def __init__(self, db: Database, clock: Callable[[], datetime] = utcnow, host: str | None = None,
                 pid: int | None = None, alive: Callable[[int], bool] = pid_alive) -> None:
        self.db, self.clock, self.alive = db, clock, alive
        self.host = (host or socket.gethostname())[:80]
        self.runner = f"{self.host}:{pid or os.getpid()}"

    def begin(self, owner: str, file_name: str, dry_run: bool) -> BatImport:
        """A new running import of this process; ImportRunning while another runs (checked before taking
        the writer, which a running import holds on SQLite)."""
        now = self.clock()
        running = self._running()
        if running is not None and not self._abandoned(running, now):
            raise ImportRunning(running)
        row = BatImport(id=secrets.token_urlsafe(18), owner=owner, file_name=file_name, dry_run=dry_run,
                        runner=self.runner, started_at=now)
        try:
            with self.db.session() as session:
                left = session.get(BatImport, running.id) if running is not None else None
                if left is not None and left.state == RUNNING:
                    left.state, left.ended_at, left.result = FAILED, now, {"message": ABANDONED}
                    session.add(left)
                    session.flush()
                self._forget_old(session, now)
                session.add(row)
        except IntegrityError:  # another process began one since the look: it runs
            raise ImportRunning(self._running()) from None
        return row

    def end(self, job_id: str, state: str, result: dict) -> None:
        """The import ended (``state``): its summary, bad rows or message for its page."""
        with self.db.session() as session:
            row = session.get(BatImport, job_id)
            if row is not None and row.state == RUNNING:
                row.state, row.ended_at, row.result = state, self.clock(), result
                session.add(row)

    def find(self, job_id: str, owner: str) -> BatImport | None:
        """The import of this id if ``owner`` started it; an abandoned one reads as failed."""
        with self.db.read_session() as session:
            row = session.get(BatImport, job_id[:32])
            session.expunge_all()  # a read session ends in a rollback, which would expire it
        if row is None or not secrets.compare_digest(row.owner.encode(), owner.encode()):
            return None
        return self._as_seen(row, self.clock())

    def recent(self, owner: str) -> list[BatImport]:
        """This administrator's imports still kept (``KEEP_AFTER_END``), newest first; abandoned ones read as failed."""
        with self.db.read_session() as session:
            rows = session.exec(select(BatImport).where(BatImport.owner == owner)
                                .order_by(col(BatImport.started_at).desc()).limit(KEEP_MAX)).all()
            session.expunge_all()
        now = self.clock()
        return [self._as_seen(row, now) for row in rows]

    def _as_seen(self, row: BatImport, now: datetime) -> BatImport:
        if row.state == RUNNING and self._abandoned(row, now):
            return row.model_copy(update={"state": FAILED, "result": {"message": ABANDONED}})
        return row

    def _running(self) -> BatImport | None:
        with self.db.read_session() as session:
            row = session.exec(select(BatImport).where(BatImport.state == RUNNING)).first()
            session.expunge_all()
        return row

    def _abandoned(self, row: BatImport, now: datetime) -> bool:
        host, _, pid = row.runner.rpartition(":")
        alive = None  # on another host: only its age tells
        if host == self.host:
            alive = row.runner == self.runner or (pid.isdigit() and self.alive(int(pid)))
        return abandoned(row.started_at, now, alive)

    @staticmethod
    def _forget_old(session, now: datetime) -> None:
        session.exec(delete(BatImport).where(col(BatImport.ended_at) < now - KEEP_AFTER_END))
        kept = select(BatImport.id).where(col(BatImport.ended_at).is_not(None)) \
            .order_by(col(BatImport.ended_at).desc()).limit(KEEP_MAX - 1)
        session.exec(delete(BatImport).where(col(BatImport.ended_at).is_not(None), col(BatImport.id).not_in(kept)))
