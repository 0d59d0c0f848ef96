"""Alembic environment for the phone-migration schema.

The server upgrades itself (``Database(url).upgrade()``); this file is what
Alembic runs for it. The URL is, first found: ``-x url=...`` on the command
line, the ``sqlalchemy.url`` that ``models.storage.database.alembic_config`` sets, then
``PHONE_MIGRATION_DATABASE_URL``, then the embedded ``./phone-migration.db``.

To add a schema version after changing a table, from the repository root,
against a scratch SQLite file (autogenerate compares with a database at head)::

    rm -f /tmp/schema.db
    python -m alembic -c models/storage/schema/alembic.ini -x url=sqlite:////tmp/schema.db upgrade head
    python -m alembic -c models/storage/schema/alembic.ini -x url=sqlite:////tmp/schema.db \
        revision --autogenerate -m "what changed"

then review the new file in ``models/storage/schema/versions/`` by hand (partial
indexes need both ``sqlite_where`` and ``postgresql_where``), and run
``pytest tests/test_schema.py``, which fails while the tables and the
versions disagree. ``upgrade head --sql`` prints the SQL offline.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import pool
from sqlmodel import SQLModel

import models.tables  # noqa: F401  (registers every table)
from models.storage.database import database_url, make_engine, upgrade_lock

config = context.config
target_metadata = SQLModel.metadata


def _url() -> str:
    return (
        context.get_x_argument(as_dictionary=True).get("url")
        or config.get_main_option("sqlalchemy.url")
        or database_url()
    )


def run_migrations_offline() -> None:
    url = _url()
    context.configure(
        url=url,
        target_metadata=target_metadata,
        literal_binds=True,
        dialect_opts={"paramstyle": "named"},
        render_as_batch=url.startswith("sqlite"),
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    # make_engine, not engine_from_config: the SQLite pragmas (WAL, foreign
    # keys, BEGIN IMMEDIATE) must hold for the upgrade as for the server.
    engine = make_engine(_url(), poolclass=pool.NullPool)
    try:
        with engine.connect() as connection, upgrade_lock(connection):
            context.configure(
                connection=connection,
                target_metadata=target_metadata,
                render_as_batch=connection.dialect.name == "sqlite",
            )
            with context.begin_transaction():
                context.run_migrations()
    finally:
        engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
