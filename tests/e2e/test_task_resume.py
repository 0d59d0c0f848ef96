"""F-6a end to end: a real ``serve`` running a bulk task is killed (SIGKILL) between two
batches or in the middle of one; a second ``serve`` on the same database, running all along,
leaves the task to the first while it lives, takes it over once the first one's lease has run
out and finishes it, every device pushed once. SQLite, then PostgreSQL."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from sqlmodel import select

from models.services.tasks import BulkTasks
from models.storage.database import Database
from models.tables.devices import Device
from tests.test_tasks import add_phones, csv_of, user

sys.path.insert(0, str(Path(__file__).parent))
from test_server import BIN, free_port  # noqa: E402

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]
TASK = "resume-1000"
DEVICES = 1000  # five batches of 200 (F-6)

# serve, with a hook that SIGKILLs the process at one stage of one batch (models.services.tasks.BATCH_HOOKS)
KILLED_SERVE = r"""
import os, signal, sys
from models.services.tasks import BATCH_HOOKS

stage, at = sys.argv[1], int(sys.argv[2])

def crash(where, number):
    if where == stage and number == at:
        os.kill(os.getpid(), signal.SIGKILL)

BATCH_HOOKS.append(crash)
sys.argv = ["phone-migration", *sys.argv[3:]]
from phoneservice.cli import main
main()
"""


def serve(workdir: Path, url: str, name: str, *prefix: str) -> tuple[subprocess.Popen, int, Path]:
    web = free_port()
    log = workdir / f"{name}.log"
    env = dict(os.environ, PYTHONPATH=str(ROOT), PHONE_MIGRATION_TASKS__LEASE_SECONDS="3",
               PHONE_MIGRATION_TASKS__RESUME_EVERY="0.5")
    argv = [*prefix, "--database", url, "serve", "--web-port", str(web), "--config-port", str(free_port()),
            "--tftp-port", "0", "--ivr-workers", "0"]
    with open(log, "wb") as out:
        proc = subprocess.Popen(argv, cwd=workdir, env=env, stdout=out, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{web}/healthz", timeout=5) as response:
                if response.status == 200:
                    return proc, web, log
        except OSError:
            time.sleep(0.2)
    proc.kill()
    raise AssertionError(f"{name} did not start: " + log.read_text()[-3000:])


def batches_logged(log: Path) -> list[tuple[int, int]]:
    events = [json.loads(line) for line in log.read_text().splitlines() if line.startswith("{")]
    return [(e["batch"], e["complete"]) for e in events if e["event"] == "task_batch"]


@pytest.mark.parametrize("stage,at", [("batch_committed", 2), ("batch_written", 3)],
                         ids=["between-batches", "inside-a-batch"])
def test_f6a_a_task_killed_with_its_server_is_finished_by_another(tmp_path, db_url, stage, at):
    """F-6a: SIGKILL of the serve running a task; another serve finishes it, each device pushed once
    (SQLite, then PostgreSQL: its lease claimed under the task row's lock)."""
    url = db_url
    subprocess.run([str(BIN / "phone-migration"), "--database", url, "init-db", "--demo"], check=True,
                   capture_output=True, timeout=120)
    db = Database(url)
    try:
        add_phones(db, DEVICES)
        BulkTasks(db).create(TASK)
        assert BulkTasks(db).upload(TASK, csv_of(*(user(i) for i in range(DEVICES)))).added == DEVICES
        token = subprocess.run([str(BIN / "phone-migration"), "--database", url, "tokens", "create", "e2e",
                                "--scope", "read", "--scope", "write"], check=True, capture_output=True, text=True,
                               timeout=60).stdout.rsplit(" ", 1)[1].strip()

        first, web, first_log = serve(tmp_path, url, "first", sys.executable, "-c", KILLED_SERVE, stage, str(at))
        # the second server runs all along: it must leave the task to the first while that one lives
        second, _, second_log = serve(tmp_path, url, "second", str(BIN / "phone-migration"))
        try:
            request = urllib.request.Request(f"http://127.0.0.1:{web}/api/v1/tasks/{TASK}/start", method="POST",
                                             data=b'{"tftp_server": "127.0.0.1"}',
                                             headers={"Authorization": f"Bearer {token}",
                                                      "Content-Type": "application/json"})
            with urllib.request.urlopen(request, timeout=30) as response:
                assert response.status == 200
            assert first.wait(timeout=120) == -signal.SIGKILL, first_log.read_text()[-3000:]
            killed_at = time.monotonic()
            deadline = killed_at + 120
            while BulkTasks(db).get(TASK).status == "In progress" and time.monotonic() < deadline:
                time.sleep(0.1)
            taken_over_after = time.monotonic() - killed_at
        finally:
            second.send_signal(signal.SIGTERM)
            second.wait(timeout=30)

        task = BulkTasks(db).get(TASK)
        assert task.status == "Complete", second_log.read_text()[-3000:]
        assert "task_resumed" in second_log.read_text()
        # the pushes each server logged: batch 2 of the first went unlogged when it died right after its commit
        first_batches = batches_logged(first_log) + ([(at, 200)] if stage == "batch_committed" else [])
        assert sorted(first_batches) == [(1, 200), (2, 200)]
        assert sorted(batches_logged(second_log)) == [(3, 200), (4, 200), (5, 200)]
        devices = BulkTasks(db).devices(TASK)
        assert sorted(d.batch for d in devices) == sorted([1, 2, 3, 4, 5] * 200)
        assert {d.state for d in devices} == {"complete"}
        with db.read_session() as session:
            pushed = session.exec(select(Device.name).where(Device.load_override.is_not(None),
                                                            Device.name.startswith("SEP00CCFC"))).all()
        assert len(pushed) == DEVICES
        assert taken_over_after < 3 + 0.5 + 10, taken_over_after  # the lease, a look, the batches
    finally:
        db.dispose()
