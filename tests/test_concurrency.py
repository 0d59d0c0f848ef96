"""C-12 across processes: one winner per old phone, no trace of a crash, one copy ever.

Real OS processes (``spawn``), not threads: SQLite's write lock and
PostgreSQL's row lock are held per connection of a process, and a crash is a
SIGKILL that no ``finally`` can soften.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from multiprocessing import get_context

import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError
from sqlmodel import SQLModel, col, func, select

import models.tables  # noqa: F401  (registers every table)
from models.rules.plan import Target
from models.rules.refusals import Refused
from models.services.demo import PT
from models.services.demo import mac as demo_mac
from models.services.migration import APPLY_HOOKS, Migrator
from models.services.site import LineSpec, create_device
from models.storage.database import Database
from models.tables.devices import Device
from models.tables.lines import LineAppearance
from models.tables.records import MigrationRecord
from models.tables.templates import PhoneButtonTemplate

pytestmark = pytest.mark.slow

ROUNDS = 50
NEW_MODEL, NEW_PROTOCOL = "8861", "SIP"
REFUSAL_CODES = {"being_migrated", "already_migrated"}
# Bounds, in seconds: no wait below can hang the suite.
WORKER_START_TIMEOUT = 60
BARRIER_TIMEOUT = 30
RESULT_TIMEOUT = 60
CHILD_TIMEOUT = 60
BACKEND_GONE_TIMEOUT = 10
HOLD_SECONDS = 0.01
CRASH_APPLICATION_NAME = "c12-crash-child"


def _mac(kind: int, n: int) -> str:
    return f"0C12{kind:02X}00{n:04X}"


# --- two migrating processes -------------------------------------------------------


def _migration_worker(url: str, jobs, results, barrier) -> None:
    """One door in its own process: wait for the other at the barrier, then migrate."""
    db = Database(url)
    migrator = Migrator(db)
    # The winner holds its lock a few milliseconds longer than a bare migration
    # takes, so both attempts meet even when the barrier's release reaches the
    # two processes apart on a busy machine.
    APPLY_HOOKS.append(lambda stage: time.sleep(HOLD_SECONDS) if stage == "locked" else None)
    results.put(("ready", os.getpid()))
    try:
        for _ in range(ROUNDS + 1):  # bounded: the last job is None
            job = jobs.get(timeout=WORKER_START_TIMEOUT + RESULT_TIMEOUT)
            if job is None:
                return
            old_name, new_mac = job
            try:
                barrier.wait(timeout=BARRIER_TIMEOUT)
            except threading.BrokenBarrierError:
                results.put((new_mac, "broken", "", "barrier broken", 0.0, 0.0))
                return
            started = time.monotonic()
            try:
                result = migrator.migrate(
                    old_name, Target(mac=new_mac, model=NEW_MODEL, protocol=NEW_PROTOCOL),
                    door="admin", actor=f"worker-{os.getpid()}",
                )
                outcome = ("migrated", result.new_device, "")
            except Refused as refusal:
                outcome = ("refused", refusal.code, refusal.message)
            except Exception as exc:  # reported to the test, which fails on it
                outcome = ("error", type(exc).__name__, str(exc))
            results.put((new_mac, *outcome, started, time.monotonic()))
    finally:
        db.dispose()


class _Workers:
    """Two spawned processes, each with its own job queue, sharing one barrier."""

    def __init__(self, url: str) -> None:
        ctx = get_context("spawn")
        self.barrier = ctx.Barrier(2)
        self.results = ctx.Queue()
        self.jobs = [ctx.Queue(), ctx.Queue()]
        self.procs = [
            ctx.Process(target=_migration_worker, args=(url, jobs, self.results, self.barrier), daemon=True)
            for jobs in self.jobs
        ]
        for proc in self.procs:
            proc.start()
        ready = [self.results.get(timeout=WORKER_START_TIMEOUT) for _ in self.procs]
        assert [r[0] for r in ready] == ["ready", "ready"], ready

    def race(self, old_name: str, macs: tuple[str, str]) -> list[tuple]:
        for jobs, new_mac in zip(self.jobs, macs):
            jobs.put((old_name, new_mac))
        return [self.results.get(timeout=RESULT_TIMEOUT) for _ in macs]

    def close(self) -> None:
        for jobs in self.jobs:
            jobs.put(None)
        for proc in self.procs:
            proc.join(timeout=10)
            if proc.is_alive():
                proc.kill()
                proc.join(timeout=10)
        for q in (*self.jobs, self.results):
            q.close()
            q.join_thread()


def _make_old_phone(db: Database, n: int) -> tuple[str, list[int], set[int]]:
    """A 7965 with 3 lines, the third shared with a neighbour's 8841.

    Returns the old phone's name, its DN ids, and the ids of the devices that
    held those DNs before the migration (old phone and neighbour).
    """
    own, second, shared = f"47{n:02d}1", f"47{n:02d}2", f"47{n:02d}3"
    with db.session() as session:
        neighbour = create_device(session, _mac(0xB0, n), "8841", "SIP", description=f"Neighbour {n}",
                                  lines=[LineSpec(shared, PT, label="Shared")], registration="registered")
        old = create_device(
            session, _mac(0xA0, n), "7965", "SCCP", description=f"Old desk {n}", registration="unregistered",
            lines=[LineSpec(own, PT, label="Own"), LineSpec(second, PT, label="Second"),
                   LineSpec(shared, PT, label="Shared")],
        )
        dn_ids = list(session.exec(
            select(LineAppearance.dn_id).where(LineAppearance.device_id == old.id).order_by(LineAppearance.position)
        ))
        return old.name, dn_ids, {old.id, neighbour.id}


def _check_round(db: Database, n: int, old_name: str, dn_ids: list[int], before: set[int], results: list[tuple]) -> str:
    """The C-12 invariants after one race; returns the loser's refusal code."""
    errors = [r for r in results if r[1] not in ("migrated", "refused")]
    assert not errors, f"round {n}: a worker failed instead of migrating or refusing: {errors}"
    winners = [r for r in results if r[1] == "migrated"]
    losers = [r for r in results if r[1] == "refused"]
    assert len(winners) == 1 and len(losers) == 1, f"round {n}: expected one success, one refusal: {results}"
    winner = winners[0][2]
    _, _, code, message, _, _ = losers[0]
    assert code in REFUSAL_CODES, f"round {n}: refused with {code!r}: {message}"
    assert "migrated" in message and len(message) > 20, f"round {n}: unclear refusal message {message!r}"
    loser_name = "SEP" + losers[0][0]

    with db.session() as session:
        names = set(session.exec(select(Device.name).where(col(Device.name).in_([winner, loser_name]))))
        assert names == {winner}, f"round {n}: new devices {names}, expected only {winner}"
        winner_id = session.exec(select(Device.id).where(Device.name == winner)).one()
        for dn_id in dn_ids:
            holders = list(session.exec(
                select(LineAppearance.device_id)
                .where(LineAppearance.dn_id == dn_id, col(LineAppearance.device_id).not_in(before))
            ))
            assert holders == [winner_id], f"round {n}: DN {dn_id} appears on new devices {holders}"
        records = list(session.exec(select(MigrationRecord).where(MigrationRecord.old_device == old_name)))
        migrated = [r for r in records if r.outcome == "migrated"]
        refused = [r for r in records if r.outcome == "refused"]
        assert [r.new_device for r in migrated] == [winner], f"round {n}: migrated records {migrated}"
        assert [(r.new_device, r.code) for r in refused] == [(loser_name, code)], f"round {n}: refusals {refused}"  # C-13
        old = session.exec(select(Device).where(Device.name == old_name)).one()
        assert old.migrated and old.successor == winner
    return code


def test_c12_two_processes_same_old_phone_50_rounds(demo_db):
    """C-12: two processes migrate one old phone at once, 50 times: one wins each time."""
    db = demo_db
    workers = _Workers(db.url)
    codes: dict[str, int] = {}
    overlapped = 0
    try:
        for n in range(ROUNDS):
            old_name, dn_ids, before = _make_old_phone(db, n)
            results = workers.race(old_name, (_mac(0xC0, n), _mac(0xD0, n)))
            code = _check_round(db, n, old_name, dn_ids, before, results)
            codes[code] = codes.get(code, 0) + 1
            (_, _, _, _, start_a, end_a), (_, _, _, _, start_b, end_b) = results
            overlapped += max(start_a, start_b) < min(end_a, end_b)
    finally:
        workers.close()
    with db.session() as session:
        migrated = session.exec(
            select(MigrationRecord.old_device_uid, func.count()).where(MigrationRecord.outcome == "migrated")
            .group_by(MigrationRecord.old_device_uid)
        ).all()
    assert len(migrated) == ROUNDS and all(count == 1 for _, count in migrated)
    # The barrier must make the two attempts actually meet; a test whose
    # processes never overlap proves nothing about the locks.
    assert overlapped >= ROUNDS // 2, f"only {overlapped}/{ROUNDS} rounds overlapped (refusals: {codes})"
    print(f"\n{db.dialect}: refusals {codes}, overlapping rounds {overlapped}/{ROUNDS}")


# --- a crash in the middle of the transaction --------------------------------------

CRASH_CHILD = r"""
import os, signal, sys
from models.storage.database import Database
from models.services.migration import APPLY_HOOKS, Migrator
from models.rules.plan import Target

url, stage, old_name, new_mac, app_name = sys.argv[1:6]

def crash(at):
    if at == stage:
        print(f"killed at {at}", file=sys.stderr, flush=True)
        os.kill(os.getpid(), signal.SIGKILL)

APPLY_HOOKS.append(crash)
kwargs = {"connect_args": {"application_name": app_name}} if url.startswith("postgresql") else {}
Migrator(Database(url, **kwargs)).migrate(old_name, Target(mac=new_mac, model="8861", protocol="SIP"),
                                          door="admin", actor="crash-test")
print("migration finished: the hook never fired", file=sys.stderr)
sys.exit(3)
"""


def _dump(db: Database) -> dict[str, list[tuple]]:
    """Every row of every table of the schema, sorted: the whole database's state."""
    with db.session() as session:
        connection = session.connection()
        return {
            table.name: sorted((tuple(row) for row in connection.execute(table.select())), key=repr)
            for table in SQLModel.metadata.sorted_tables
        }


def _wait_backend_gone(db: Database) -> None:
    """PostgreSQL ends a killed client's backend (and its locks) asynchronously."""
    if db.dialect != "postgresql":
        return
    deadline = time.monotonic() + BACKEND_GONE_TIMEOUT
    for _ in range(1000):
        with db.session() as session:
            alive = session.connection().execute(
                text("SELECT count(*) FROM pg_stat_activity WHERE application_name = :name"),
                {"name": CRASH_APPLICATION_NAME},
            ).scalar_one()
        if not alive or time.monotonic() > deadline:
            break
        time.sleep(0.02)
    assert not alive, f"the killed child's PostgreSQL backend still runs after {BACKEND_GONE_TIMEOUT}s"


@pytest.mark.parametrize("stage", ["temporary_removed", "device_created", "lines_written", "old_updated", "recorded"])
def test_c12_crash_mid_apply_leaves_database_unchanged(demo_db, stage):
    """C-12: a process killed between two writes of a migration changes nothing."""
    db = demo_db
    # Alice's 7965 SCCP with a 7914, 8 lines and features, onto the demo's
    # auto-registered 8851 MAC, so the crash also interrupts C-14's removal.
    old_name, new_mac = "SEP" + demo_mac(1), "00AA11BB22CC"
    before = _dump(db)
    assert before["device"] and before["line_appearance"]

    child = subprocess.run(
        [sys.executable, "-c", CRASH_CHILD, db.url, stage, old_name, new_mac, CRASH_APPLICATION_NAME],
        capture_output=True, text=True, timeout=CHILD_TIMEOUT,
    )
    assert child.returncode == -signal.SIGKILL, f"child exited {child.returncode}: {child.stderr}"
    assert f"killed at {stage}" in child.stderr
    _wait_backend_gone(db)

    after = _dump(db)
    for table in before:
        assert after[table] == before[table], f"table {table} changed after a crash at {stage}"

    result = Migrator(db).migrate(old_name, Target(mac=new_mac, model=NEW_MODEL, protocol=NEW_PROTOCOL),
                                  door="admin", actor="after-crash")
    assert result.applied
    with db.session() as session:
        new = session.exec(select(Device).where(Device.name == result.new_device)).one()
        assert not new.auto_registered and new.model == NEW_MODEL
        assert session.exec(select(Device.migrated).where(Device.name == old_name)).one()


# --- the index that no locking mistake can get past --------------------------------


def test_c12_unique_index_refuses_second_copy_even_without_lock(demo_db):
    """C-12: a second "migrated" record for one old phone is refused by the database."""
    db = demo_db
    old_name = "SEP" + demo_mac(0x31)  # Judy's 8841
    Migrator(db).migrate(old_name, Target(mac="0C12EE000001", model=NEW_MODEL), door="admin", actor="first")
    with db.session() as session:
        uid = session.exec(select(Device.uid).where(Device.name == old_name)).one()

    # As a door would write it if it skipped find_device(lock=True) entirely.
    with pytest.raises(IntegrityError) as exc:
        with db.session() as session:
            session.add(MigrationRecord(door="admin", actor="no-lock", old_device=old_name, old_device_uid=uid,
                                        new_device="SEP0C12EE000002", outcome="migrated"))
    assert "uq_one_successful_migration" in str(exc.value) or "migration_record.old_device_uid" in str(exc.value)

    # The index is partial: refusals of the same phone are still recorded (C-13).
    with db.session() as session:
        session.add(MigrationRecord(door="admin", actor="no-lock", old_device=old_name, old_device_uid=uid,
                                    outcome="refused", code="already_migrated"))
    with db.session() as session:
        outcomes = sorted(session.exec(select(MigrationRecord.outcome).where(MigrationRecord.old_device_uid == uid)))
    assert outcomes == ["migrated", "refused"]


# --- two first migrations to one model ----------------------------------------------


def test_c12_two_first_migrations_to_a_model_both_apply(demo_db):
    """C-12, H-1: two different old phones migrated at once to a model that has no phone button template
    row yet (two hosts' first migrations to a new model): both transactions create the row; the one that
    commits second takes the other's row instead of failing as "being migrated"."""
    db, first_in, results = demo_db, threading.Event(), {}

    def hold(stage: str) -> None:
        if stage == "device_created" and threading.current_thread().name == "first":
            first_in.set()
            time.sleep(1.0)  # the second reaches the template meanwhile, behind this transaction's new row

    def migrate(old: str, mac: str) -> None:
        try:
            result = Migrator(db).migrate(old, Target(mac=mac, model=NEW_MODEL, protocol=NEW_PROTOCOL),
                                          door="admin", actor="c12-template")
            results[threading.current_thread().name] = result.applied
        except Refused as exc:
            results[threading.current_thread().name] = exc.code

    APPLY_HOOKS.append(hold)
    try:
        first = threading.Thread(target=migrate, args=(f"SEP{demo_mac(0x11)}", _mac(0xE0, 1)), name="first")
        first.start()
        assert first_in.wait(BARRIER_TIMEOUT), "the first migration never reached its new device"
        second = threading.Thread(target=migrate, args=(f"SEP{demo_mac(0x14)}", _mac(0xE0, 2)), name="second")
        second.start()
        first.join(RESULT_TIMEOUT)
        second.join(RESULT_TIMEOUT)
    finally:
        APPLY_HOOKS.remove(hold)
    assert results == {"first": True, "second": True}
    with db.session() as session:
        names = session.exec(select(func.count()).select_from(PhoneButtonTemplate)
                             .where(PhoneButtonTemplate.name == f"Standard {NEW_MODEL} {NEW_PROTOCOL}")).one()
    assert names == 1
