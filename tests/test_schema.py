"""Schema versions (models/storage/schema) against the tables (models.tables).

A table changed without a new revision fails here, on both engines.
"""

from __future__ import annotations

import io
import sqlite3
from contextlib import closing

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect
from sqlmodel import SQLModel, select

import models.tables  # noqa: F401  (registers every table)
from models.storage.database import Database, alembic_config
from models.tables.records import MigrationRecord


def _head(url: str) -> str:
    heads = ScriptDirectory.from_config(alembic_config(url)).get_heads()
    assert len(heads) == 1, f"schema versions have several heads: {heads}"
    return heads[0]


def test_upgrade_head_creates_exactly_the_tables(db_url):
    db = Database(db_url)
    try:
        db.upgrade()
        with db.engine.connect() as connection:
            context = MigrationContext.configure(connection)
            assert context.get_current_revision() == _head(db_url)
            differences = compare_metadata(context, SQLModel.metadata)
        assert differences == [], (
            "the tables and models/storage/schema/versions disagree; add a revision "
            f"(see models/storage/schema/env.py): {differences}"
        )
    finally:
        db.dispose()


def test_the_partial_unique_index_exists(db_url):
    db = Database(db_url)
    try:
        db.upgrade()
        indexes = {i["name"]: i for i in inspect(db.engine).get_indexes("migration_record")}
        index = indexes["uq_one_successful_migration"]
        assert index["unique"]
        where = index["dialect_options"].get(f"{db.dialect}_where")
        assert "migrated" in str(where)
    finally:
        db.dispose()


def test_upgrade_twice_is_harmless(db_url):
    db = Database(db_url)
    try:
        db.upgrade()
        with db.session() as session:
            session.add(MigrationRecord(door="cli", old_device="SEP001122334455"))
        db.upgrade()
        with db.session() as session:
            assert session.exec(select(MigrationRecord.old_device)).all() == ["SEP001122334455"]
        with db.engine.connect() as connection:
            assert MigrationContext.configure(connection).get_current_revision() == _head(db_url)
    finally:
        db.dispose()


def test_sqlite_file_is_in_wal_mode_after_upgrade(sqlite_url, tmp_path):
    db = Database(sqlite_url)
    try:
        db.upgrade()
    finally:
        db.dispose()
    # A plain connection: WAL is a property of the file, not of our engine.
    with closing(sqlite3.connect(tmp_path / "test.db")) as connection:
        assert connection.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_offline_mode_prints_the_postgresql_ddl():
    url = "postgresql+psycopg://nobody@127.0.0.1:1/none"
    config = alembic_config(url)
    config.output_buffer = io.StringIO()
    command.upgrade(config, "head", sql=True)
    ddl = config.output_buffer.getvalue()
    assert "CREATE TABLE migration_record" in ddl
    assert "CREATE UNIQUE INDEX uq_one_successful_migration" in ddl
    assert "WHERE outcome = 'migrated'" in ddl
