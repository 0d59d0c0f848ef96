"""Errors an operator meets get one line that says what to do, and an exit status a
script can use (phoneservice.cli.common): 3 for the database, 4 for the machine.
Never a traceback, and nothing is left behind."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

BIN = Path(sys.executable).parent / "phone-migration"


def cli(*args: str, cwd: Path, env: dict | None = None, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run([str(BIN), *args], cwd=cwd, capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, **(env or {})})


def one_line(done: subprocess.CompletedProcess) -> str:
    assert "Traceback" not in done.stderr, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), done.stderr
    return lines[0]


def test_a_command_in_a_folder_with_no_database_says_run_init_db_and_creates_nothing(tmp_path):
    done = cli("devices", cwd=tmp_path, env={"PHONE_MIGRATION_DATABASE_URL": ""})
    assert done.returncode == 3
    assert "run `phone-migration init-db` first" in one_line(done)
    assert list(tmp_path.iterdir()) == []


def test_an_unreachable_database_is_one_line_without_the_password(tmp_path):
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]  # nothing listens here once the socket closes
    done = cli("--database", f"postgresql+psycopg://pm:sekrit@127.0.0.1:{port}/pm", "report", cwd=tmp_path)
    assert done.returncode == 3
    line = one_line(done)
    assert "cannot use the database" in line and "sekrit" not in line and "--database" in line


def test_a_schema_behind_this_version_says_upgrade(tmp_path):
    from alembic import command

    from models.storage.database import alembic_config

    url = f"sqlite:///{tmp_path}/old.db"
    command.upgrade(alembic_config(url), "0006")
    done = cli("--database", url, "devices", cwd=tmp_path)
    assert done.returncode == 3
    assert "is at schema revision 0006" in one_line(done) and "init-db" in done.stderr
    assert cli("--database", url, "init-db", cwd=tmp_path).returncode == 0
    assert cli("--database", url, "devices", cwd=tmp_path).returncode == 0


def test_a_port_in_use_ends_serve_with_one_line_and_status_4(tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = cli("--database", f"sqlite:///{tmp_path}/pm.db", "serve", "--web-port", str(port),
                   "--config-port", "0", "--tftp-port", "0", "--ivr-workers", "0", cwd=tmp_path, timeout=60)
    assert done.returncode == 4
    assert f"cannot listen on 127.0.0.1:{port}" in one_line(done)


@pytest.mark.parametrize("tool", ["espeak-ng"])
def test_a_missing_tool_is_named_with_its_debian_package(tmp_path, tool):
    done = subprocess.run([sys.executable, "-m", "ivr.prompts", "--generate", "--out", str(tmp_path),
                           "--language", "en", "--name", "goodbye"], capture_output=True, text=True, timeout=60,
                          env={**os.environ, "PATH": str(tmp_path)})  # no tool on PATH at all
    assert done.returncode == 4
    assert f"{tool} is not installed (Debian: apt-get install -y espeak-ng sox)" in one_line(done)
