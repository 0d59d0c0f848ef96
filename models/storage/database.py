"""The database: one engine per process, short sessions, schema upgrades.

SQLite is the embedded default; PostgreSQL is how several server processes on
several hosts share one site. C-12 needs a migration to be one transaction that
two processes can never run twice on one old phone:

- SQLite: WAL (readers never block the writer), a busy timeout, and every
  write transaction opened with ``BEGIN IMMEDIATE`` so that the write lock is
  taken before the first read of the old device (no lost-update window).
  Writers queue before they ask SQLite (``WriterQueue``): its busy handler
  polls with sleeps of up to 100 ms, which made a waiting writer's request
  slow under load (the screens' p99). Within a process they queue on a
  Python lock; between processes (the web worker processes, the IVR
  workers, the CLI) on an ``flock`` of a lock file beside the database.
- PostgreSQL: ``SELECT ... FOR UPDATE NOWAIT`` on the old device row (see
  ``models.services.migration``) plus a partial unique index on successful migration
  records, so one old phone can never be copied twice whatever the locking does.

Schema versions are kept with Alembic in ``models/storage/schema`` (the word
"migration" belongs to the product).
"""

from __future__ import annotations

import fcntl
import os
import sqlite3
import threading
import time
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import Iterator

from sqlalchemy import event, text
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import OperationalError
from sqlmodel import Session, SQLModel, create_engine

import models.storage.stamp  # noqa: F401  (the version-stamp listeners must be live in every process)
import models.tables  # noqa: F401  (registers every table)

DEFAULT_URL = "sqlite:///phone-migration.db"
URL_ENV = "PHONE_MIGRATION_DATABASE_URL"
SQLITE_BUSY_TIMEOUT_MS = 30_000
_WRITER_QUEUES: dict[str, "WriterQueue"] = {}
_WRITER_QUEUES_GUARD = threading.Lock()
# How long a writer waiting on another process sleeps between tries: short,
# because a write transaction holds the lock for a few milliseconds.
_CROSS_PROCESS_POLL = (0.0002, 0.0005, 0.001, 0.002)


class WriterQueue:
    """SQLite's one writer, queued for without its busy handler.

    Threads of this process wait on an RLock (woken at once when it is given
    back); the thread that holds it then takes an exclusive ``flock`` on
    ``<database>-writer.lock``, which other processes on the same file take
    too. ``flock`` has no timeout, so that wait tries without blocking and
    sleeps at most 2 ms between tries. Nothing here replaces ``BEGIN
    IMMEDIATE``: a process that doesn't queue (an old version, the sqlite3
    shell) still meets SQLite's own lock and busy timeout.
    """

    def __init__(self, path: str) -> None:
        self.path = path + "-writer.lock"
        self._lock = threading.RLock()
        self._depth = 0
        self._fd: int | None = None

    def acquire(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        if not self._lock.acquire(timeout=timeout):
            return False
        if self._depth == 0 and not self._lock_file(deadline):
            self._lock.release()
            return False
        self._depth += 1
        return True

    def release(self) -> None:
        self._depth -= 1
        if self._depth == 0 and self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
        self._lock.release()

    def _lock_file(self, deadline: float) -> bool:
        if self._fd is None:
            try:
                self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
            except OSError:
                return True  # a read-only directory: SQLite's own lock still decides
        for attempt in range(1_000_000):  # bounded by the deadline well before this count
            try:
                fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return True
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    return False
                time.sleep(_CROSS_PROCESS_POLL[min(attempt, len(_CROSS_PROCESS_POLL) - 1)])
        return False

    def __enter__(self) -> None:
        return None

    def __exit__(self, *_exc) -> None:
        self.release()


def _writer_queue(path: str) -> WriterQueue:
    """One queue per SQLite file per process, shared by every ``Database`` on it."""
    key = os.path.realpath(path)
    with _WRITER_QUEUES_GUARD:
        return _WRITER_QUEUES.setdefault(key, WriterQueue(key))


def database_url(url: str | None = None) -> str:
    """The URL given, else the environment's, else the embedded SQLite file."""
    return url or os.environ.get(URL_ENV) or DEFAULT_URL


def is_sqlite(engine: Engine) -> bool:
    return engine.dialect.name == "sqlite"


def make_engine(url: str | None = None, *, immediate: bool = True, **kwargs) -> Engine:
    """``immediate=False`` (SQLite): plain deferred transactions, for read-only work."""
    url = database_url(url)
    if url.startswith("sqlite"):
        engine = create_engine(
            url,
            connect_args={"check_same_thread": False, "timeout": SQLITE_BUSY_TIMEOUT_MS / 1000},
            **kwargs,
        )
        _configure_sqlite(engine, immediate)
        return engine
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://"):]
    kwargs.setdefault("pool_pre_ping", True)
    return create_engine(url, **kwargs)


def _configure_sqlite(engine: Engine, immediate: bool) -> None:
    # pysqlite's own transaction handling issues BEGIN lazily (and never for
    # SELECT); take it over so every transaction starts with BEGIN IMMEDIATE.
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection, _record):
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        if engine.url.database not in (None, "", ":memory:"):
            cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    begin = "BEGIN IMMEDIATE" if immediate else "BEGIN"

    @event.listens_for(engine, "begin")
    def _on_begin(connection):
        # On the driver's connection: a statement through SQLAlchemy costs more
        # than the BEGIN itself, and every transaction starts with one.
        try:
            connection.connection.driver_connection.execute(begin)
        except sqlite3.OperationalError as exc:  # as SQLAlchemy would have raised it ("database is locked")
            raise OperationalError(begin, None, exc) from None


class _SharedRead(threading.local):
    """A thread's ``Database.shared_reads`` scope: its depth and its connection."""

    depth = 0
    connection: Connection | None = None


class Database:
    """The engine and its session factory; the one way models reach storage.

    Two ways in are public to services (``models.services``), and a service
    method uses exactly one of them per transaction:

    - ``session()``, the unit of work: every write, committed at the end or
      rolled back on any error (SQLite: the writer queue and ``BEGIN IMMEDIATE``);
    - ``read_session()``, the read scope: reads only, never SQLite's write
      lock, always rolled back.

    The rest is storage-internal performance plumbing, each use justified by a
    benchmark (``docs/benchmarks.md``): ``read_connection()`` and
    ``write_connection()`` (Core transactions without the ORM's cost) and
    ``shared_reads()`` (a thread's reads share one transaction). They are used
    only by named storage functions (``models.storage.settings``,
    ``models.storage.sessions``, ``models.storage.stamp``), the self-service hot path
    (``models.services.selfservice``, ``models.services.migration``) and the
    screens blueprint's per-request shared read scope
    (``phoneservice.web.screens.views``). ``ping()`` is ``/healthz``'s check.
    """

    def __init__(self, url: str | None = None, **engine_kwargs) -> None:
        self._shared = _SharedRead()
        self.url = database_url(url)
        self.engine = make_engine(self.url, **engine_kwargs)
        in_memory = self.url.startswith("sqlite") and self.engine.url.database in (None, "", ":memory:")
        # SQLite: reads need no write lock; WAL lets them run beside a writer.
        self.read_engine = (
            make_engine(self.url, immediate=False, **engine_kwargs)
            if self.url.startswith("sqlite") and not in_memory else self.engine
        )
        self._writers = _writer_queue(self.engine.url.database) if self.url.startswith("sqlite") and not in_memory else None

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @contextmanager
    def session(self) -> Iterator[Session]:
        """One unit of work: commit on success, roll back on any error."""
        self._end_shared_read()
        with self._writer_turn(), Session(self.engine, expire_on_commit=False) as session:
            try:
                yield session
                session.commit()
            except BaseException:
                session.rollback()
                raise

    def _writer_turn(self):
        if self._writers is None:
            return nullcontext()
        if not self._writers.acquire(timeout=SQLITE_BUSY_TIMEOUT_MS / 1000):
            # What SQLite itself raises when its busy timeout runs out, so every
            # caller's "database is locked" handling applies unchanged.
            raise OperationalError("BEGIN IMMEDIATE", None, sqlite3.OperationalError("database is locked"))
        return self._writers

    @contextmanager
    def write_connection(self) -> Iterator[Connection]:
        """A Core write transaction: the writer queue and ``BEGIN IMMEDIATE`` of
        ``session()`` without the ORM's cost. ORM hooks don't run, so the site
        stamp is not bumped: only for tables no config file reads (``models.storage.sessions``)."""
        self._end_shared_read()
        with self._writer_turn(), self.engine.begin() as connection:
            yield connection

    @contextmanager
    def read_connection(self) -> Iterator[Connection]:
        """A Core read-only transaction, always rolled back (see ``read_session``).
        Inside ``shared_reads`` it is the scope's transaction, left open."""
        shared = self._shared
        if shared.depth:
            if shared.connection is None:
                shared.connection = self.read_engine.connect()
            try:
                yield shared.connection
            except BaseException:
                shared.connection.rollback()  # a failed read doesn't leave the scope's transaction broken
                raise
            return
        with self.read_engine.connect() as connection:
            try:
                yield connection
            finally:
                connection.rollback()

    @contextmanager
    def shared_reads(self) -> Iterator[None]:
        """The ``read_connection`` calls of this thread share one read transaction
        until the scope ends: one snapshot, one pool checkout and one BEGIN
        instead of one each (a screen reads up to five times). A write
        (``session``, ``write_connection``) in the same thread ends it first,
        so that later reads see what was written: the next read begins anew."""
        shared = self._shared
        shared.depth += 1
        try:
            yield
        finally:
            shared.depth -= 1
            if not shared.depth and shared.connection is not None:
                connection, shared.connection = shared.connection, None
                try:
                    connection.rollback()
                finally:
                    connection.close()

    def _end_shared_read(self) -> None:
        if self._shared.connection is not None:
            self._shared.connection.rollback()

    @contextmanager
    def read_session(self) -> Iterator[Session]:
        """A read-only unit of work: never takes SQLite's write lock; always rolled back."""
        with Session(self.read_engine, expire_on_commit=False) as session:
            try:
                yield session
            finally:
                session.rollback()

    def ping(self) -> None:
        """One trivial read (``SELECT 1``) in a read scope: raises when the database can't answer (``/healthz``)."""
        with self.read_session() as session:
            session.connection().exec_driver_sql("SELECT 1")

    def upgrade(self) -> None:
        """Bring the schema to the newest version (Alembic ``upgrade head``)."""
        from alembic import command

        command.upgrade(alembic_config(self.url), "head")

    def create_all(self) -> None:
        """Create tables straight from the metadata (tests on in-memory SQLite)."""

        SQLModel.metadata.create_all(self.engine)

    def dispose(self) -> None:
        self.engine.dispose()
        self.read_engine.dispose()


UPGRADE_LOCK_KEY = 0x706D5F736368656D  # pg_advisory_lock key for schema upgrades ("pm_schem")


@contextmanager
def upgrade_lock(connection: Connection) -> Iterator[None]:
    """One schema upgrade at a time, whatever number of processes and hosts start at once.

    PostgreSQL: a session-level advisory lock on the upgrade's own connection
    (released by the unlock, or by the connection closing if the process dies).
    SQLite: an ``flock`` of ``<db>-upgrade.lock`` beside the database file
    (released when the process dies too). The one that waited then finds the
    schema at head and has nothing to do. An in-memory database needs none.
    """
    if connection.dialect.name == "postgresql":
        connection.execute(text("SELECT pg_advisory_lock(:key)"), {"key": UPGRADE_LOCK_KEY})
        connection.commit()
        try:
            yield
        finally:
            connection.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": UPGRADE_LOCK_KEY})
            connection.commit()
        return
    path = connection.engine.url.database
    if connection.dialect.name != "sqlite" or not path or path == ":memory:" or path.startswith("file::memory:"):
        yield
        return
    with open(f"{path}-upgrade.lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def schema_problem(url: str) -> str | None:
    """What keeps a command from using the database at ``url``, in one line with what to run;
    None when its schema is at this version's head. Never creates a SQLite file."""
    from alembic.script import ScriptDirectory
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    shown = parsed.render_as_string(hide_password=True)
    if parsed.drivername.startswith("sqlite") and parsed.database and parsed.database != ":memory:" \
            and not Path(parsed.database).exists():
        return f"no database at {parsed.database}: run `phone-migration init-db` first (--demo for the demo site)"
    head = ScriptDirectory.from_config(alembic_config(url)).get_current_head()
    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            if not engine.dialect.has_table(connection, "alembic_version"):
                return f"the database {shown} has no schema: run `phone-migration init-db` first"
            current = connection.execute(text("SELECT version_num FROM alembic_version")).scalar()
    finally:
        engine.dispose()
    if current != head:
        return (f"the database {shown} is at schema revision {current}, this version needs {head}: "
                "run `phone-migration init-db` to upgrade it")
    return None


def alembic_config(url: str):
    from alembic.config import Config

    here = Path(__file__).parent / "schema"
    cfg = Config(str(here / "alembic.ini"))
    cfg.set_main_option("script_location", str(here))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg
