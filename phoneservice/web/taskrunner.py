"""F-6: a bulk task's batches in the background, shared by the admin UI and the REST API.

Start and Resume never block the request. ``run_in_background`` starts one
daemon thread per task and database in this process (a second call while it
runs does nothing); it calls ``run_next_batch`` until that pushes nothing
(paused, cancelled or ended), so a pause or a cancel takes effect between
batches. Every batch is one transaction on the locked task row, so two
runners in two processes are safe.

F-6a: the runner holds the task's lease (``models.services.task_leases``),
renewed by every batch. ``resume_orphans``, called every ``tasks.resume_every``
seconds by each server process, takes over a task whose runner died (its lease
ran out) and runs it here, from the first device no committed batch pushed.
"""

from __future__ import annotations

import threading
from dataclasses import asdict

from models.rules.task_summary import bar, confirmation_line, headline
from models.rules.tasks import IN_PROGRESS, allowed_actions
from models.services.tasks import BulkTasks
from phoneservice.observe import log_event, logger
from phoneservice.web.services import Services, services

_lock = threading.Lock()
_runners: dict[tuple[str, str], threading.Thread] = {}


def bulk_tasks(svc: Services | None = None) -> BulkTasks:
    """The tasks of ``svc``'s database; by default the services of the app handling this request."""
    svc = svc or services()
    return BulkTasks(svc.db, svc.catalog, lease_seconds=svc.config.tasks.lease_seconds)


def resume_orphans(tasks: BulkTasks) -> list[str]:
    """F-6a: run here every task In progress whose runner is gone; the names taken over."""
    taken = []
    for name in tasks.orphaned():
        if tasks.claim(name) and run_in_background(tasks, name):
            log_event("task_resumed", task=name, runner=tasks.runner)
            taken.append(name)
    return taken


def _key(tasks: BulkTasks, name: str) -> tuple[str, str]:
    return str(tasks.db.url), name


def runner(tasks: BulkTasks, name: str) -> threading.Thread | None:
    """The thread running ``name``'s batches in this process, if any."""
    with _lock:
        thread = _runners.get(_key(tasks, name))
    return thread if thread is not None and thread.is_alive() else None


def run_in_background(tasks: BulkTasks, name: str) -> bool:
    """Run the task's batches in a daemon thread; False when one runs them already."""
    key = _key(tasks, name)
    with _lock:
        current = _runners.get(key)
        if current is not None and current.is_alive():
            return False
        thread = threading.Thread(target=_run, args=(tasks, name, key), name=f"task-{name}", daemon=True)
        _runners[key] = thread
        thread.start()
    return True


def _run(tasks: BulkTasks, name: str, key: tuple[str, str]) -> None:
    batches = 0
    try:
        while True:
            result = tasks.run_next_batch(name)
            if result.batch is not None:
                batches += 1
                log_event("task_batch", task=name, batch=result.batch, complete=result.complete,
                          failed=result.failed, queued=result.queued, runner=tasks.runner)
                continue
            # Nothing pushed: decide under the lock, so a resume that found this runner alive is not lost.
            with _lock:
                progress = tasks.progress(name)
                if progress.status != IN_PROGRESS or progress.paused or not progress.counts.get("in_progress"):
                    tasks.release(name)  # before it leaves _runners: once runner() says None, it is done
                    if _runners.get(key) is threading.current_thread():
                        del _runners[key]
                    break
        log_event("task_runner_stopped", task=name, batches=batches, status=progress.status,
                  paused=progress.paused)
    except Exception as exc:  # a thread has no caller to tell: log it; the task stays as its last batch left it
        logger.error("task_runner_failed", exc_info=exc, extra={"fields": {"task": name, "batches": batches}})
        with _lock:
            if _runners.get(key) is threading.current_thread():
                del _runners[key]


def progress_view(tasks: BulkTasks, name: str) -> dict:
    """The progress as JSON values: for the bar, the JSON endpoint and the API; with the headline
    (F-6b), pushed vs confirmed (F-6d) and the actions the task's state allows (F-6c)."""
    progress = tasks.progress(name)
    percent = round(100 * progress.done / progress.total) if progress.total else 0
    return {"status": progress.status, "paused": progress.paused, "total": progress.total, "done": progress.done,
            "percent": percent, "counts": dict(progress.counts), "running": runner(tasks, name) is not None,
            "summary": headline(progress), "confirmed": progress.confirmed, "to_confirm": progress.to_confirm,
            "actions": list(allowed_actions(progress.status, progress.paused, progress.counts)),
            "bar": [asdict(s) for s in bar(progress)], "confirmation": confirmation_line(progress)}
