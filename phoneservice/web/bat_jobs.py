"""The admin UI's BAT imports in the background (E-4): the upload answers at once, the import runs here.

An import of 1000 phones takes seconds (one transaction, ``models.services.bat.import_bat``),
so the upload starts it in a daemon thread of this web process and the admin's page
follows it by an unguessable id. The import's row (``models.services.bat_imports``)
says who started it, that it runs and how it ended, so any web process or host behind
the load balancer shows its page. The counts of a running import ("phone N of M"),
which the service reports through ``on_progress``, stay in the memory of the process
running it: its transaction holds the database's writer until it ends. A page served
by another process shows the import running, without them.

One import at a time on the site (another is refused with a sentence). If the process
dies while an import runs, nothing was imported (one transaction, all or nothing) and
the import's page says so.
"""

from __future__ import annotations

import threading
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Callable

from models.rules.bat_format import RowError
from models.rules.bat_imports import DONE, FAILED, REFUSED, REJECTED, RUNNING
from models.rules.refusals import Refused
from models.services.bat import BatRejected, ImportSummary
from models.services.bat_imports import BatImports, ImportRunning
from models.tables.bat_imports import BatImport
from phoneservice.observe import log_event, logger

__all__ = ["DONE", "FAILED", "REFUSED", "REJECTED", "RUNNING", "BackgroundImports", "Busy", "ImportJob"]


@dataclass
class ImportJob:
    """One upload's import as its page shows it; ``total`` is 0 until every row passed its checks, and
    stays 0 on a page served by another process than the one running it (``counted`` False)."""

    id: str
    owner: str
    file_name: str
    dry_run: bool
    state: str = RUNNING
    done: int = 0
    total: int = 0
    summary: ImportSummary | None = None
    errors: list[RowError] = field(default_factory=list)
    message: str = ""
    counted: bool = True
    started_at: datetime | None = None

    def progress(self, done: int, total: int) -> None:
        self.done, self.total = done, total


class Busy(Exception):
    """Another import runs on the site: the page says so and the admin tries again later."""

    def __init__(self, running: ImportJob) -> None:
        super().__init__("an import is running")
        self.running = running


class BackgroundImports:
    """This web process's imports (built once, with its services): the rows, and the counts of those
    running here."""

    def __init__(self, imports: BatImports) -> None:
        self.imports = imports
        self._lock = threading.Lock()
        self._running: dict[str, ImportJob] = {}

    @property
    def running_here(self) -> int:
        with self._lock:
            return len(self._running)

    def start(self, owner: str, file_name: str, dry_run: bool,
              run: Callable[[Callable[[int, int], None]], ImportSummary]) -> ImportJob:
        """Start ``run(on_progress)`` in a thread; Busy while another import runs on the site."""
        try:
            row = self.imports.begin(owner, file_name, dry_run)
        except ImportRunning as other:
            raise Busy(self._seen(other.running)) from None
        job = ImportJob(row.id, owner, file_name, dry_run, started_at=row.started_at)
        with self._lock:
            self._running[job.id] = job
        threading.Thread(target=self._run, args=(job, run), name=f"bat-import-{job.id[:6]}", daemon=True).start()
        return job

    def find(self, job_id: str, owner: str) -> ImportJob | None:
        """The import of this id if this administrator started it, wherever it runs or ran."""
        row = self.imports.find(job_id, owner)
        if row is None:
            return None
        return self._seen(row)

    def recent(self, owner: str) -> list[ImportJob]:
        """This administrator's imports still kept, newest first, for the BAT files page."""
        return [self._seen(row) for row in self.imports.recent(owner)]

    def _seen(self, row: BatImport) -> ImportJob:
        """A running import of this process with its counts, else what its row says."""
        return (self._local(row) if row.state == RUNNING else None) or _from_row(row)

    def _run(self, job: ImportJob, run: Callable[[Callable[[int, int], None]], ImportSummary]) -> None:
        try:
            job.summary, state = run(job.progress), DONE
            result: dict = {"summary": asdict(job.summary)}
        except BatRejected as rejected:
            job.errors, job.message, state = rejected.errors, rejected.message, REJECTED
            result = {"message": job.message, "errors": [asdict(e) for e in job.errors]}
        except Refused as refusal:
            job.message, state = refusal.message, REFUSED
            result = {"message": job.message}
        except Exception as exc:  # a thread has no caller: log it, and the page says nothing was imported
            logger.error("bat_import_failed", exc_info=exc, extra={"fields": {"job": job.id[:6]}})
            job.message, state = "The import failed on the server's side: nothing was imported. Try again.", FAILED
            result = {"message": job.message}
        try:
            self.imports.end(job.id, state, result)
        except Exception as exc:  # noqa: BLE001 - the row then reads as abandoned once this process is gone
            logger.error("bat_import_not_recorded", exc_info=exc, extra={"fields": {"job": job.id[:6]}})
        finally:
            with self._lock:
                del self._running[job.id]
        log_event("admin_bat_import_ended", job=job.id[:6], outcome=state, dry_run=job.dry_run,
                  phones=job.summary.devices if job.summary else 0, bad_rows=len({e.row for e in job.errors}),
                  actor=job.owner)

    def _local(self, row: BatImport) -> ImportJob | None:
        with self._lock:
            return self._running.get(row.id)


def _from_row(row: BatImport) -> ImportJob:
    result = row.result
    return ImportJob(row.id, row.owner, row.file_name, row.dry_run, row.state,
                     summary=ImportSummary(**result["summary"]) if "summary" in result else None,
                     errors=[RowError(**e) for e in result.get("errors", [])], message=result.get("message", ""),
                     counted=row.state != RUNNING, started_at=row.started_at)
