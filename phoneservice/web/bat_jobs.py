"""The admin UI's BAT imports in the background (E-4): the upload answers at once, the import runs here.

An import of 1000 phones takes seconds (one transaction, ``models.services.bat.import_bat``),
so the upload starts it in a daemon thread of this web process and the admin's page
follows it by an unguessable id (``secrets.token_urlsafe``), reading the counts the
service reports through ``on_progress``. The registry is this process's memory only:
the import is one transaction, all or nothing, so if the process dies while it runs
nothing was imported and the administrator uploads the file again; the page of an id
this process does not know says so. With ``web.processes`` above 1 the page may ask
another process, which does not know the id either: run imports where
``web.processes`` is 1, or through the API or the CLI, which answer when the import ends.

Bounded: at most ``RUNNING_MAX`` imports run at once in a process (another is refused
with a sentence), and a finished import is kept ``KEEP_SECONDS`` for its page, at most
``KEEP_MAX`` of them.
"""

from __future__ import annotations

import secrets
import threading
import time
from dataclasses import dataclass, field
from typing import Callable

from models.rules.bat_format import RowError
from models.rules.refusals import Refused
from models.services.bat import BatRejected, ImportSummary
from phoneservice.observe import log_event, logger

RUNNING_MAX = 1  # one transaction holds SQLite's writer for seconds: a second import would only wait behind it
KEEP_SECONDS, KEEP_MAX = 3600, 50
RUNNING, DONE, REJECTED, REFUSED, FAILED = "running", "done", "rejected", "refused", "failed"

_lock = threading.Lock()
_jobs: dict[str, ImportJob] = {}


@dataclass
class ImportJob:
    """One upload's import as its page shows it; ``total`` is 0 until every row passed its checks."""

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
    ended: float | None = None

    def progress(self, done: int, total: int) -> None:
        self.done, self.total = done, total


class Busy(Exception):
    """Another import runs in this process: the page says so and the admin tries again later."""

    def __init__(self, running: ImportJob) -> None:
        super().__init__("an import is running")
        self.running = running


def start(owner: str, file_name: str, dry_run: bool, run: Callable[[Callable[[int, int], None]], ImportSummary],
          *, clock: Callable[[], float] = time.monotonic) -> ImportJob:
    """Start ``run(on_progress)`` in a thread; Busy when ``RUNNING_MAX`` imports run already."""
    with _lock:
        _forget_old(clock())
        running = [j for j in _jobs.values() if j.state == RUNNING]
        if len(running) >= RUNNING_MAX:
            raise Busy(running[0])
        job = ImportJob(secrets.token_urlsafe(18), owner, file_name, dry_run)
        _jobs[job.id] = job
    threading.Thread(target=_run, args=(job, run, clock), name=f"bat-import-{job.id[:6]}", daemon=True).start()
    return job


def find(job_id: str, owner: str) -> ImportJob | None:
    """The import of this id, if this process runs or ran it for this administrator."""
    with _lock:
        job = _jobs.get(job_id)
    return job if job is not None and secrets.compare_digest(job.owner, owner) else None


def _run(job: ImportJob, run: Callable[[Callable[[int, int], None]], ImportSummary],
         clock: Callable[[], float]) -> None:
    try:
        job.summary, state = run(job.progress), DONE
    except BatRejected as rejected:
        job.errors, job.message, state = rejected.errors, rejected.message, REJECTED
    except Refused as refusal:
        job.message, state = refusal.message, REFUSED
    except Exception as exc:  # a thread has no caller: log it, and the page says nothing was imported
        logger.error("bat_import_failed", exc_info=exc, extra={"fields": {"job": job.id[:6]}})
        job.message, state = "The import failed on the server's side: nothing was imported. Try again.", FAILED
    with _lock:
        job.state, job.ended = state, clock()
    log_event("admin_bat_import_ended", job=job.id[:6], outcome=state, dry_run=job.dry_run,
              phones=job.summary.devices if job.summary else 0, bad_rows=len({e.row for e in job.errors}),
              actor=job.owner)


def _forget_old(now: float) -> None:
    ended = sorted((j for j in _jobs.values() if j.ended is not None), key=lambda j: j.ended or 0)
    for number, job in enumerate(ended):
        if now - (job.ended or 0) > KEEP_SECONDS or len(ended) - number > KEEP_MAX:
            del _jobs[job.id]
