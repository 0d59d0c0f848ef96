"""E-4: the admin UI's BAT imports as rows (``models.services.bat_imports``), on SQLite and PostgreSQL:
one running on the site at a time, an abandoned one (its process gone) read and recorded as failed, and
ended ones forgotten after an hour, at most KEEP_MAX kept."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from models.rules.bat_imports import (
    ABANDONED,
    ABANDONED_AFTER,
    DONE,
    FAILED,
    KEEP_AFTER_END,
    KEEP_MAX,
    RUNNING,
    abandoned,
)
from models.services.bat_imports import BatImports, ImportRunning, pid_alive
from tests.handclock import HandClock

T0 = datetime(2026, 12, 5, 9, 0, tzinfo=timezone.utc)


@pytest.fixture
def clock():
    return HandClock(T0)


def imports(db, clock, host="web-a", pid=100, alive=lambda pid: True) -> BatImports:
    return BatImports(db, clock=clock, host=host, pid=pid, alive=alive)


def test_e4_an_import_is_begun_ended_and_found_by_its_administrator_only(demo_db, clock):
    here = imports(demo_db, clock)
    row = here.begin("admin:alice", "phones.csv", dry_run=True)
    assert len(row.id) >= 24 and row.state == RUNNING and row.runner == "web-a:100"
    assert here.find(row.id, "admin:alice").state == RUNNING
    assert here.find(row.id, "admin:bob") is None and here.find("x" * 40, "admin:alice") is None
    clock.now += timedelta(seconds=3)
    here.end(row.id, DONE, {"summary": {"format": "all-details", "devices": 5}})
    ended = imports(demo_db, clock, host="web-b").find(row.id, "admin:alice")  # another host reads it
    assert (ended.state, ended.dry_run, ended.result["summary"]["devices"]) == (DONE, True, 5)
    here.end(row.id, FAILED, {})  # an ended import stays as it ended
    assert here.find(row.id, "admin:alice").state == DONE


def test_e4_one_import_runs_at_a_time_on_the_site(demo_db, clock):
    first = imports(demo_db, clock).begin("admin:alice", "a.csv", False)
    with pytest.raises(ImportRunning) as busy:
        imports(demo_db, clock, host="web-b").begin("admin:bob", "b.csv", False)
    assert busy.value.running.id == first.id


def test_e4_two_processes_beginning_at_once_one_wins_by_the_database(demo_db, clock, monkeypatch):
    """Both looked before either wrote: the partial unique index refuses the second running row."""
    imports(demo_db, clock).begin("admin:alice", "a.csv", False)
    late = imports(demo_db, clock, host="web-b")
    looks = iter([None])
    real = late._running
    monkeypatch.setattr(late, "_running", lambda: next(looks, None) or real())
    with pytest.raises(ImportRunning) as busy:
        late.begin("admin:bob", "b.csv", False)
    assert busy.value.running.owner == "admin:alice"


def test_e4_an_import_whose_process_died_on_this_host_reads_failed_and_frees_the_site(demo_db, clock):
    gone = imports(demo_db, clock, pid=4242).begin("admin:alice", "a.csv", False)
    here = imports(demo_db, clock, pid=100, alive=lambda pid: pid != 4242)
    seen = here.find(gone.id, "admin:alice")
    assert (seen.state, seen.result["message"]) == (FAILED, ABANDONED)
    assert [(row.id, row.state) for row in here.recent("admin:alice")] == [(gone.id, FAILED)]
    assert imports(demo_db, clock, pid=100).find(gone.id, "admin:alice").state == RUNNING  # its pid lives there
    new = here.begin("admin:bob", "b.csv", False)  # the dead one is recorded as failed
    assert here.find(new.id, "admin:bob").state == RUNNING
    recorded = imports(demo_db, clock, pid=100).find(gone.id, "admin:alice")
    assert (recorded.state, recorded.ended_at is not None) == (FAILED, True)


def test_e4_an_import_on_another_host_is_abandoned_only_past_any_imports_length(demo_db, clock):
    other = imports(demo_db, clock, host="web-b").begin("admin:alice", "a.csv", False)
    here = imports(demo_db, clock, alive=lambda pid: False)  # pids of another host mean nothing here
    clock.now += timedelta(minutes=10)
    with pytest.raises(ImportRunning):
        here.begin("admin:bob", "b.csv", False)
    clock.now = T0 + ABANDONED_AFTER + timedelta(seconds=1)
    assert here.find(other.id, "admin:alice").state == FAILED
    here.begin("admin:bob", "b.csv", False)


def test_e4_ended_imports_are_forgotten_after_an_hour_and_beyond_keep_max(demo_db, clock):
    here = imports(demo_db, clock)
    old = here.begin("admin:alice", "old.csv", False)
    here.end(old.id, DONE, {})
    clock.now += KEEP_AFTER_END + timedelta(seconds=1)
    ids = []
    for n in range(KEEP_MAX + 1):
        row = here.begin("admin:alice", f"{n}.csv", False)
        assert here.find(old.id, "admin:alice") is None  # over an hour since it ended
        clock.now += timedelta(seconds=1)
        here.end(row.id, DONE, {})
        ids.append(row.id)
    last = here.begin("admin:alice", "last.csv", False)  # KEEP_MAX ended ones at most, with the running one
    kept = [i for i in ids if here.find(i, "admin:alice") is not None]
    assert kept == ids[-(KEEP_MAX - 1):] and here.find(last.id, "admin:alice").state == RUNNING


def test_e4_abandoned_rule():
    assert not abandoned(T0, T0 + ABANDONED_AFTER, None)
    assert abandoned(T0, T0 + ABANDONED_AFTER + timedelta(seconds=1), None)
    assert abandoned(T0, T0, False) and not abandoned(T0, T0, True)
    assert abandoned(T0.replace(tzinfo=None), T0 + timedelta(hours=2), True)  # SQLite's naive UTC


def test_pid_alive():
    assert pid_alive(1) and not pid_alive(2 ** 22 + 1)
