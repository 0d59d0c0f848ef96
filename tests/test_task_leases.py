"""F-6a: a bulk task's runner lease (models/services/task_leases.py, phoneservice/web/taskrunner.py).

A task In progress is held by the process that runs it, renewed by every batch;
once the lease runs out any other process may take it over, exactly one at a
time. The restart of a real ``serve`` is in tests/e2e/test_task_resume.py.
"""

from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone

from models.rules.tasks import runner_may_take
from models.services.tasks import BulkTasks
from phoneservice.config import load_config
from phoneservice.processes.server import build_services
from phoneservice.web import taskrunner
from tests.handclock import HandClock
from tests.test_tasks import SERVER, TASK, add_phones, csv_of, user

T0 = datetime(2031, 1, 1, tzinfo=timezone.utc)


def started(db, clock, count: int = 450) -> BulkTasks:
    bulk = BulkTasks(db, clock=clock, lease_seconds=30)
    add_phones(db, count)
    bulk.create(TASK)
    bulk.upload(TASK, csv_of(*(user(i) for i in range(count))))
    bulk.start(TASK, SERVER)
    return bulk


def test_f6a_the_lease_rule():
    """F-6a: free with no lease or once it ran out; naive times are UTC (SQLite)."""
    assert runner_may_take(None, T0)
    assert not runner_may_take(T0 + timedelta(seconds=1), T0)
    assert runner_may_take(T0, T0)
    assert not runner_may_take((T0 + timedelta(seconds=5)).replace(tzinfo=None), T0)
    assert runner_may_take((T0 - timedelta(seconds=5)).replace(tzinfo=None), T0)


def test_f6a_the_starter_holds_the_task_until_its_lease_runs_out(demo_db):
    """F-6a: no other process takes a task whose runner renews its lease; once it stops, one does."""
    clock = HandClock(T0)
    first = started(demo_db, clock)
    other = BulkTasks(demo_db, clock=clock, lease_seconds=30)
    assert first.runner != other.runner
    assert other.orphaned() == [] and not other.claim(TASK)
    first.run_next_batch(TASK)  # renews: 30 s from this batch
    clock.now += timedelta(seconds=29)
    assert other.orphaned() == [] and not other.claim(TASK)
    clock.now += timedelta(seconds=2)  # the first runner is silent past its lease: taken for dead
    assert other.orphaned() == [TASK]
    assert other.claim(TASK)
    assert not first.claim(TASK)  # the old runner, back from the dead, does not take it back
    assert other.orphaned() == []


def test_f6a_the_new_runner_starts_at_the_first_device_not_pushed(demo_db):
    """F-6a: after a takeover every device is pushed exactly once, in batches continuing the count."""
    clock = HandClock(T0)
    first = started(demo_db, clock)
    first.run_next_batch(TASK)
    clock.now += timedelta(seconds=31)
    other = BulkTasks(demo_db, clock=clock)
    assert other.claim(TASK)
    batches = []
    while (result := other.run_next_batch(TASK)).batch is not None:
        batches.append((result.batch, result.complete))
    assert batches == [(2, 200), (3, 50)]
    devices = other.devices(TASK)
    assert sorted(d.batch for d in devices) == sorted([1] * 200 + [2] * 200 + [3] * 50)
    assert {d.state for d in devices} == {"complete"} and other.get(TASK).status == "Complete"


def test_f6a_a_paused_or_ended_task_is_not_taken_over(demo_db):
    """F-6a: a pause is the administrator's: no process resumes it on its own; nor one that ended."""
    clock = HandClock(T0)
    first = started(demo_db, clock, count=10)
    first.pause(TASK)
    clock.now += timedelta(hours=1)
    other = BulkTasks(demo_db, clock=clock)
    assert other.orphaned() == [] and not other.claim(TASK)
    first.resume(TASK)
    assert other.orphaned() == [TASK]
    assert other.claim(TASK)
    other.run_next_batch(TASK)
    clock.now += timedelta(hours=1)
    assert other.get(TASK).status == "Complete" and other.orphaned() == [] and not other.claim(TASK)


def test_f6a_a_stopped_runner_releases_its_lease(demo_db):
    """F-6a: a runner that stops (paused) gives its lease back at once, so a resume elsewhere need not wait."""
    clock = HandClock(T0)
    first = started(demo_db, clock, count=10)
    first.pause(TASK)
    first.release(TASK)
    first.resume(TASK)
    other = BulkTasks(demo_db, clock=clock)
    assert other.claim(TASK)


def test_f6a_resume_orphans_runs_the_task_in_this_process(demo_db):
    """F-6a: the server's periodic look (``resume_orphans``) takes over a dead runner's task and finishes it."""
    past = HandClock(T0)
    past.now = datetime(2020, 1, 1, tzinfo=timezone.utc)
    started(demo_db, past, count=450)  # its lease ran out in 2020: a runner that died
    svc = build_services(load_config(database={"url": demo_db.url}))
    try:
        tasks = taskrunner.bulk_tasks(svc)
        assert taskrunner.resume_orphans(tasks) == [TASK]
        deadline = time.monotonic() + 30
        while taskrunner.runner(tasks, TASK) is not None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert tasks.get(TASK).status == "Complete"
        assert tasks.get(TASK).runner is None  # released when it stopped
        assert taskrunner.resume_orphans(tasks) == []
    finally:
        svc.close()
