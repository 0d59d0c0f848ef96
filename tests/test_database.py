"""The database layer: SQLite writers queue on a Python lock within a process and
on an flock of ``<database>-writer.lock`` between processes, never on SQLite's
busy handler (C-12's BEGIN IMMEDIATE still decides)."""

from __future__ import annotations

import subprocess
import sys
import threading

import pytest
from sqlalchemy import event
from sqlalchemy.exc import DBAPIError, OperationalError

import models.storage.database as database
from models.storage.database import Database
from models.storage.settings import load_settings, save_settings

THREADS, ROUNDS = 8, 25
JOIN_TIMEOUT = 60


@pytest.fixture
def db(sqlite_db):
    return sqlite_db


def test_threads_writing_at_once_all_succeed_and_none_is_lost(db):
    """8 threads x 25 read-modify-write transactions: every increment survives."""
    errors: list[BaseException] = []

    def writer() -> None:
        try:
            for _ in range(ROUNDS):
                with db.session() as s:
                    row = s.connection().exec_driver_sql("SELECT version FROM site_version WHERE id = 1").scalar()
                    s.connection().exec_driver_sql("UPDATE site_version SET version = ? WHERE id = 1", (row + 1,))
        except BaseException as exc:  # reported below
            errors.append(exc)

    with db.read_session() as s:
        before = s.connection().exec_driver_sql("SELECT version FROM site_version WHERE id = 1").scalar()
    threads = [threading.Thread(target=writer) for _ in range(THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(JOIN_TIMEOUT)
    assert not errors
    with db.read_session() as s:
        after = s.connection().exec_driver_sql("SELECT version FROM site_version WHERE id = 1").scalar()
    assert after - before == THREADS * ROUNDS


def test_a_writer_waiting_past_the_busy_timeout_gets_sqlites_own_error(db, monkeypatch):
    """The lock's timeout is the busy timeout, and the error is the one SQLite
    raises, so the migration's "being migrated, try again" handling applies."""
    monkeypatch.setattr(database, "SQLITE_BUSY_TIMEOUT_MS", 100)
    holding, release = threading.Event(), threading.Event()

    def holder() -> None:
        with db.session() as s:
            s.connection().exec_driver_sql("SELECT 1")
            holding.set()
            release.wait(JOIN_TIMEOUT)

    t = threading.Thread(target=holder)
    t.start()
    try:
        assert holding.wait(JOIN_TIMEOUT)
        with pytest.raises(OperationalError, match="database is locked"):
            with db.session():
                pass
        with db.read_session() as s:  # readers never wait for the writer
            assert load_settings(s).session_attempts == 3
    finally:
        release.set()
        t.join(JOIN_TIMEOUT)
    with db.session() as s:  # and the lock was given back
        save_settings(s, session_attempts=2)


def test_two_databases_on_one_file_share_the_lock(sqlite_url):
    first, second = Database(sqlite_url), Database(sqlite_url)
    assert first._writers is second._writers is not None
    assert Database("sqlite://")._writers is None  # in memory: one connection, nothing to queue for
    first.dispose()
    second.dispose()


HOLDER = """
import sys
from models.storage.database import Database
db = Database(sys.argv[1])
with db.session() as s:
    s.connection().exec_driver_sql("UPDATE site_version SET version = version + 1000 WHERE id = 1")
    print("holding", flush=True)
    sys.stdin.readline()
db.dispose()
"""


def test_a_writer_in_another_process_is_waited_for_on_the_lock_file(db, sqlite_url, monkeypatch, tmp_path):
    """Another process's write transaction: this one waits on the lock file (never
    on SQLite's busy handler), times out with SQLite's own error, and goes
    ahead once the other commits, seeing its write."""
    with db.read_session() as s:
        before = s.connection().exec_driver_sql("SELECT version FROM site_version WHERE id = 1").scalar()
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, sqlite_url], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                              text=True, cwd=str(database.Path(database.__file__).parent.parent))
    try:
        assert holder.stdout.readline().strip() == "holding"
        assert (tmp_path / "test.db-writer.lock").exists()
        monkeypatch.setattr(database, "SQLITE_BUSY_TIMEOUT_MS", 200)
        with pytest.raises(OperationalError, match="database is locked"):
            with db.session():
                pass
        monkeypatch.setattr(database, "SQLITE_BUSY_TIMEOUT_MS", 30_000)
        done = threading.Event()

        def writer() -> None:
            with db.session() as s:
                s.connection().exec_driver_sql("UPDATE site_version SET version = version + 1 WHERE id = 1")
            done.set()

        t = threading.Thread(target=writer)
        t.start()
        assert not done.wait(0.3)  # still queued behind the other process
        holder.communicate("go\n", timeout=JOIN_TIMEOUT)
        assert done.wait(JOIN_TIMEOUT)
        t.join(JOIN_TIMEOUT)
    finally:
        if holder.poll() is None:
            holder.kill()
            holder.communicate(timeout=JOIN_TIMEOUT)
    assert holder.returncode == 0
    with db.read_session() as s:
        after = s.connection().exec_driver_sql("SELECT version FROM site_version WHERE id = 1").scalar()
    assert after - before == 1001


# ---- shared_reads: one read transaction for a screen's reads, ended by a write


def _begins(db: Database) -> list[str]:
    seen: list[str] = []
    event.listen(db.read_engine, "begin", lambda _c: seen.append("begin"))
    return seen


def _setting(connection) -> str | None:
    value = connection.exec_driver_sql("SELECT value FROM site_setting WHERE key = 'probe'").scalar()
    return None if value is None else str(value)


def test_reads_in_one_scope_share_one_transaction_and_one_connection(demo_db):
    begins = _begins(demo_db)
    with demo_db.shared_reads():
        with demo_db.read_connection() as first:
            load_settings(first)
        with demo_db.read_connection() as second:
            load_settings(second)
        assert first is second
    assert begins == ["begin"]
    assert demo_db.read_engine.pool.checkedout() == 0  # given back when the scope ends
    with demo_db.read_connection() as a, demo_db.read_connection() as b:  # outside a scope: one each
        assert a is not b


def test_a_write_in_the_scope_ends_its_snapshot_so_later_reads_see_it(demo_db):
    with demo_db.shared_reads():
        with demo_db.read_connection() as c:
            assert _setting(c) is None
        with demo_db.session() as s:
            s.connection().exec_driver_sql("INSERT INTO site_setting (key, value) VALUES ('probe', '1')")
        with demo_db.read_connection() as c:
            assert _setting(c) == "1"
        with demo_db.write_connection() as w:
            w.exec_driver_sql("UPDATE site_setting SET value = '2' WHERE key = 'probe'")
        with demo_db.read_connection() as c:
            assert _setting(c) == "2"


def test_the_scope_belongs_to_its_thread(demo_db):
    seen = []

    def other() -> None:
        with demo_db.read_connection() as c:
            seen.append(c)

    with demo_db.shared_reads(), demo_db.read_connection() as mine:
        t = threading.Thread(target=other)
        t.start()
        t.join(JOIN_TIMEOUT)
        assert seen and seen[0] is not mine


def test_a_failed_read_leaves_the_scope_usable(demo_db):
    with demo_db.shared_reads():
        with pytest.raises(DBAPIError):
            with demo_db.read_connection() as c:
                c.exec_driver_sql("SELECT no_such_column FROM site_setting")
        with demo_db.read_connection() as c:
            assert load_settings(c) is not None
    assert demo_db.read_engine.pool.checkedout() == 0
