"""Database fixtures: a SQLite file per test and a throwaway PostgreSQL cluster.

``db_url`` runs a test on both engines. PostgreSQL comes from
PHONE_MIGRATION_TEST_POSTGRES_URL when set, else from Debian's server binaries
started as the ``postgres`` user in a temporary directory (PostgreSQL refuses
to run as root). Without binaries the PostgreSQL tests fail, so a missing
server never passes for a green run, unless PHONE_MIGRATION_SKIP_POSTGRES=1.
"""

from __future__ import annotations

import os
import sys
import uuid
from pathlib import Path
from typing import Iterator

import psycopg
import pytest
from psycopg import sql
from sqlalchemy.engine import make_url

sys.path.insert(0, str(Path(__file__).parent))
import pgcluster  # noqa: E402  (tests/pgcluster.py, shared with bench/migrate.py)

POSTGRES_URL_ENV = "PHONE_MIGRATION_TEST_POSTGRES_URL"
SKIP_POSTGRES_ENV = "PHONE_MIGRATION_SKIP_POSTGRES"


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A PostgreSQL database for the whole session (URL usable by make_engine)."""
    if os.environ.get(POSTGRES_URL_ENV):
        yield os.environ[POSTGRES_URL_ENV]
        return
    if pgcluster.bindir() is None and os.environ.get(SKIP_POSTGRES_ENV) == "1":
        pytest.skip(f"no PostgreSQL server binaries and {SKIP_POSTGRES_ENV}=1")
    try:
        with pgcluster.throwaway_cluster() as server:
            url = make_url(server).set(database="phone_migration_test").render_as_string(hide_password=False)
            with psycopg.connect(_admin_conninfo(url), autocommit=True) as conn:
                conn.execute("CREATE DATABASE phone_migration_test")
            yield url
    except pgcluster.ClusterError as exc:
        pytest.fail(f"{exc}; or set {POSTGRES_URL_ENV} to a server, or {SKIP_POSTGRES_ENV}=1 to skip "
                    "the PostgreSQL tests", pytrace=False)


_admin_conninfo = pgcluster.admin_conninfo


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


@pytest.fixture
def cli(sqlite_url):
    """``phone-migration --database <sqlite_url> ...`` on the demo site, in this process:
    ``cli(*args, input=None)`` answers click's result; ``cli.url`` is the database."""
    from click.testing import CliRunner

    from phoneservice.cli import main

    runner = CliRunner()

    def run(*args, input=None):
        return runner.invoke(main, ["--database", sqlite_url, *args], input=input, catch_exceptions=False)

    assert run("init-db", "--demo").exit_code == 0
    run.url = sqlite_url
    return run


@pytest.fixture
def sqlite_db(sqlite_url):
    """An empty site on a SQLite file, schema upgraded."""
    from models.storage.database import Database

    d = Database(sqlite_url)
    d.upgrade()
    yield d
    d.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest) -> str:
    """An empty database on each engine in turn: SQLite file, then PostgreSQL."""
    if request.param == "postgres":
        return request.getfixturevalue("fresh_postgres_db")
    return request.getfixturevalue("sqlite_url")


@pytest.fixture
def demo_db(db_url: str):
    """The demo site (models.services.demo) on each engine in turn."""
    from alembic import command

    from models.services.demo import load_demo
    from models.storage.database import Database, alembic_config

    db = Database(db_url)
    db.create_all()
    command.stamp(alembic_config(db.url), "head")  # the tables are this version's: the CLI checks that
    with db.session() as session:
        load_demo(session)
    yield db
    db.dispose()


@pytest.fixture
def services(demo_db):
    """The web server's services on the demo site (admin UI, screens); restarts are not sent."""
    from phoneservice.config import load_config
    from phoneservice.processes.server import build_services

    services = build_services(load_config(database={"url": demo_db.url}))
    services.restart = lambda name, result=None: False  # no SIP contact in these tests
    yield services
    services.close()
