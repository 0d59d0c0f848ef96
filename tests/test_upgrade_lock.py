"""Schema upgrades under a lock: any number of processes (hosts) may start at once on
an empty database; one upgrades, the others wait and find the schema at head
(PostgreSQL: an advisory lock; SQLite: a file lock beside the database)."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

STARTS = 4


def init_db_at_once(url: str, gate: Path) -> list[subprocess.CompletedProcess]:
    """``STARTS`` ``init-db`` processes released together, as hosts starting at once: each
    imports everything, says it is ready, and waits for the gate file."""
    code = ("import sys, time, pathlib; from phoneservice.cli import main; import alembic.command; "
            f"gate = pathlib.Path({str(gate)!r}); (gate.parent / f'ready-{{__import__(\"os\").getpid()}}').touch(); "
            "deadline = time.monotonic() + 60\n"
            "while not gate.exists() and time.monotonic() < deadline: time.sleep(0.001)\n"
            f"sys.argv = ['phone-migration', '--database', {url!r}, 'init-db']; main()")
    children = [subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                 text=True) for _ in range(STARTS)]
    deadline = time.monotonic() + 60
    while len(list(gate.parent.glob("ready-*"))) < STARTS and time.monotonic() < deadline:
        time.sleep(0.01)
    gate.touch()
    done = []
    for child in children:
        out, err = child.communicate(timeout=120)
        done.append(subprocess.CompletedProcess(child.args, child.returncode, out, err))
    return done


def head_version(url: str) -> str:
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            return connection.execute(text("SELECT version_num FROM alembic_version")).scalar_one()
    finally:
        engine.dispose()


@pytest.mark.parametrize("engine", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def test_four_concurrent_starts_on_an_empty_database_all_succeed(engine, request, tmp_path):
    url = request.getfixturevalue("fresh_postgres_db") if engine == "postgres" else f"sqlite:///{tmp_path}/pm.db"
    for round_ in range(2):  # the first round creates the schema; the second finds it at head
        gates = tmp_path / f"round{round_}"
        gates.mkdir()
        results = init_db_at_once(url, gates / "go")
        failed = [r.stderr[-2000:] for r in results if r.returncode != 0]
        assert not failed, f"round {round_}: {failed}"
    from alembic.script import ScriptDirectory

    from models.storage.database import alembic_config

    assert head_version(url) == ScriptDirectory.from_config(alembic_config(url)).get_current_head()
