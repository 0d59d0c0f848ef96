"""Database fixtures: a SQLite file per test and a throwaway PostgreSQL cluster.

``db_url`` runs a test on both engines. PostgreSQL comes from
PHONE_MIGRATION_TEST_POSTGRES_URL when set, else from Debian's server binaries
started as the ``postgres`` user in a temporary directory (PostgreSQL refuses
to run as root). Without binaries the PostgreSQL tests fail, so a missing
server never passes for a green run, unless PHONE_MIGRATION_SKIP_POSTGRES=1.
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
import uuid
from pathlib import Path
from typing import Iterator

import psycopg
import pytest
from psycopg import sql
from sqlalchemy.engine import make_url

POSTGRES_URL_ENV = "PHONE_MIGRATION_TEST_POSTGRES_URL"
SKIP_POSTGRES_ENV = "PHONE_MIGRATION_SKIP_POSTGRES"


def _postgres_bindir() -> Path | None:
    """Where initdb and pg_ctl are: PATH first, else Debian's newest version."""
    found = shutil.which("initdb")
    if found and shutil.which("pg_ctl"):
        return Path(found).parent
    candidates = glob.glob("/usr/lib/postgresql/*/bin/initdb")
    candidates.sort(key=lambda p: int(Path(p).parts[-3]) if Path(p).parts[-3].isdigit() else 0)
    return Path(candidates[-1]).parent if candidates else None


def _as_postgres(*argv: str | Path) -> list[str]:
    prefix = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
    return prefix + [str(a) for a in argv]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _admin_conninfo(url: str) -> str:
    """The same server's ``postgres`` database, as a libpq URI for psycopg."""
    admin = make_url(url).set(drivername="postgresql", database="postgres")
    return admin.render_as_string(hide_password=False)


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A PostgreSQL database for the whole session (URL usable by make_engine)."""
    if os.environ.get(POSTGRES_URL_ENV):
        yield os.environ[POSTGRES_URL_ENV]
        return
    bindir = _postgres_bindir()
    if bindir is None:
        if os.environ.get(SKIP_POSTGRES_ENV) == "1":
            pytest.skip(f"no PostgreSQL server binaries and {SKIP_POSTGRES_ENV}=1")
        pytest.fail(
            "PostgreSQL server binaries (initdb, pg_ctl) not found: install Debian's "
            f"'postgresql' package, or set {POSTGRES_URL_ENV} to a server, or "
            f"{SKIP_POSTGRES_ENV}=1 to skip the PostgreSQL tests",
            pytrace=False,
        )
    root = Path(tempfile.mkdtemp(prefix="phone-migration-pg-"))
    data, log = root / "data", root / "server.log"
    if os.geteuid() == 0:
        shutil.chown(root, "postgres", "postgres")
    port = _free_port()
    try:
        subprocess.run(
            _as_postgres(bindir / "initdb", "-D", data, "-U", "postgres", "--auth=trust",
                         "-E", "UTF8", "--locale=C", "--no-sync"),
            check=True, capture_output=True,
        )
        with open(data / "postgresql.conf", "a") as conf:
            conf.write(
                f"listen_addresses = '127.0.0.1'\nport = {port}\nunix_socket_directories = '{root}'\n"
                "fsync = off\nsynchronous_commit = off\nfull_page_writes = off\n"
            )
        subprocess.run(_as_postgres(bindir / "pg_ctl", "-D", data, "-l", log, "-w", "start"),
                       check=True, capture_output=True)
    except subprocess.CalledProcessError as exc:
        detail = exc.stderr.decode(errors="replace") + (log.read_text() if log.exists() else "")
        shutil.rmtree(root, ignore_errors=True)
        pytest.fail(f"could not start PostgreSQL with {bindir}: {detail}", pytrace=False)
    url = f"postgresql+psycopg://postgres@127.0.0.1:{port}/phone_migration_test"
    try:
        with psycopg.connect(_admin_conninfo(url), autocommit=True) as conn:
            conn.execute("CREATE DATABASE phone_migration_test")
        yield url
    finally:
        subprocess.run(_as_postgres(bindir / "pg_ctl", "-D", data, "-m", "fast", "-w", "stop"),
                       capture_output=True)
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def fresh_postgres_db(postgres_url: str) -> Iterator[str]:
    """A new, empty database on the session's server for one test, dropped after."""
    name = f"test_{uuid.uuid4().hex[:16]}"
    admin = _admin_conninfo(postgres_url)
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield make_url(postgres_url).set(database=name).render_as_string(hide_password=False)
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'test.db'}"


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest) -> str:
    """An empty database on each engine in turn: SQLite file, then PostgreSQL."""
    if request.param == "postgres":
        return request.getfixturevalue("fresh_postgres_db")
    return request.getfixturevalue("sqlite_url")


@pytest.fixture
def demo_db(db_url: str):
    """The demo site (models.demo) on each engine in turn."""
    from models.database import Database
    from models.demo import load_demo

    db = Database(db_url)
    db.create_all()
    with db.session() as session:
        load_demo(session)
    yield db
    db.dispose()
