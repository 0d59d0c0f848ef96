"""F-6 bulk firmware-migration tasks (models/tasks.py, models/tasks_csv.py, the ``tasks`` CLI).

Columns, statuses, the 1000-device limit, batches of 200 and the export
groups are copied here from the English digest at the end of
docs/sources.md ("Control Hub firmware migration"), independently of the code.
"""

from __future__ import annotations

import csv
import io
import os
import subprocess
import sys
import threading
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy.exc import IntegrityError
from sqlmodel import select

from models.rules.firmware import Direction
from models.rules.refusals import Refused
from models.rules.tasks_csv import check_task_name, check_upload_file_name
from models.services.demo import load_demo
from models.services.tasks import BATCH_HOOKS, BulkTasks
from models.storage.database import Database
from models.tables.devices import Device
from models.tables.tasks import MigrationTask
from phoneservice.cli import main

ROOT = Path(__file__).resolve().parent.parent
HEADER = "Type,Username,Phone Number,Extension,Device Type,Model,MAC Address,Location,Calling plan"
TASK = "8800-01-01-21"  # the digest's example name
SERVER = "10.0.0.5"
# Digest, bulk update by custom file: the phone load chosen by model.
DIGEST_EXPORT = {
    "7832": ("sip7832", "sip7832.11-3-6MPP0001-272"),
    "7811": ("sip78xx", "sip78xx.11-3-6MPP0001-272"),
    "7841": ("sip78xx", "sip78xx.11-3-6MPP0001-272"),
    "8832": ("sip8832", "sip8832.11-3-6MPP0001-272"),
    "8845": ("sip8845_65", "sip8845_65.11-3-6MPP0001-272"),
    "8865": ("sip8845_65", "sip8845_65.11-3-6MPP0001-272"),
    "8851": ("sip88xx", "sip88xx.11-3-6MPP0001-272"),
    "8811": ("sip88xx", "sip88xx.11-3-6MPP0001-272"),
}


def mac(i: int) -> str:
    return f"00CCFC{i:06X}"


def user(i: int, model: str = "8851", location: str = "HQ") -> str:
    return f"USER,user{i}@example.com,,,IP,{model},{mac(i)},{location},False"


def csv_of(*rows: str, header: str = HEADER) -> str:
    return "\n".join([header, *rows]) + "\n"


class Ticking:
    """An injected clock: one second later at every call, from a start the test picks."""

    def __init__(self, year: int = 2026) -> None:
        self.now = datetime(year, 1, 1, tzinfo=timezone.utc)

    def __call__(self) -> datetime:
        self.now += timedelta(seconds=1)
        return self.now


def add_phones(db: Database, count: int, model: str = "8851", start: int = 0, **fields) -> None:
    """Phones known in the database, by MAC -> SEP name, many at once."""
    with db.session() as session:
        session.add_all(Device(name="SEP" + mac(i), model=model, location="HQ", **fields)
                        for i in range(start, start + count))


def _site(url: str) -> Database:
    db = Database(url)
    db.create_all()
    with db.session() as session:
        load_demo(session)
    return db


@pytest.fixture
def db(sqlite_url):
    """The demo site on SQLite, for the rules that do not depend on the engine."""
    db = _site(sqlite_url)
    yield db
    db.dispose()


@pytest.fixture
def bulk(db):
    return BulkTasks(db, clock=Ticking())


@pytest.fixture
def both(demo_db):
    """The demo site on SQLite, then PostgreSQL: the rules that lock."""
    return BulkTasks(demo_db, clock=Ticking())


def started(bulk: BulkTasks, count: int, name: str = TASK, known: bool = True) -> BulkTasks:
    if known:
        add_phones(bulk.db, count)
    bulk.create(name)
    assert bulk.upload(name, csv_of(*(user(i) for i in range(count)))).added == count
    bulk.start(name, SERVER)
    return bulk


def run_all(bulk: BulkTasks, name: str = TASK) -> list:
    results = []
    while (result := bulk.run_next_batch(name)).batch is not None:
        results.append(result)
    return results


def states(bulk: BulkTasks, name: str = TASK) -> dict[str, tuple]:
    return {d.mac: (d.state, d.batch, d.processed_at) for d in bulk.devices(name)}


# --- names --------------------------------------------------------------------------


def test_f6_task_names_unique_and_without_spaces(bulk):
    bulk.create(TASK)
    with pytest.raises(Refused, match="unique"):
        bulk.create(TASK)
    for bad in ("8800 01", "", "a/b", "x" * 65, "tâche"):
        with pytest.raises(Refused, match="no spaces"):
            bulk.create(bad)
    assert check_task_name("a_b-c.1") == "a_b-c.1"


@pytest.mark.parametrize("name,ok", [
    ("devices.csv", True), ("8800-01_batch.csv", True), ("devices", True), ("dir/devices.csv", True),
    (".devices.csv", False), ("devices.2.csv", False), ("my devices.csv", False), ("devices;.csv", False),
    ("", False),
])
def test_f6_upload_file_name_rule(bulk, name, ok):
    if ok:
        assert check_upload_file_name(name) == name.split("/")[-1]
        return
    bulk.create(TASK)
    with pytest.raises(Refused, match="file name"):
        bulk.upload(TASK, csv_of(user(1)), file_name=name)
    assert bulk.devices(TASK) == []


# --- upload ---------------------------------------------------------------------------


def test_f6_a_1000_row_csv_imports_and_row_1001_is_refused(both):
    both.create(TASK)
    result = both.upload(TASK, csv_of(*(user(i) for i in range(1001))), file_name="devices.csv")
    assert (result.added, result.refused, result.total) == (1000, 1, 1000)
    [error] = result.errors
    assert error.row == 1002 and "1000 devices" in error.message  # the header is row 1: device 1001 is row 1002
    again = both.upload(TASK, csv_of(user(2000)))
    assert (again.added, again.refused, again.total) == (0, 1, 1000)
    assert len(both.devices(TASK)) == 1000


BAD_ROWS = [
    ("bad MAC", "USER,a@example.com,,,IP,8851,00CCFC12345,HQ,False", "MAC Address", "not a MAC address"),
    ("MAC missing", "USER,a@example.com,,,IP,8851,,HQ,False", "MAC Address", "required"),
    ("unknown model", "USER,a@example.com,,,IP,1234,00CCFC000009,HQ,False", "Model", "unknown phone model"),
    ("unsupported model", "USER,a@example.com,,,IP,7965,00CCFC000009,HQ,False", "Model", "not supported"),
    ("model missing", "USER,a@example.com,,,IP,,00CCFC000009,HQ,False", "Model", "required"),
    ("location missing", "USER,a@example.com,,,IP,8851,00CCFC000009,,False", "Location", "required"),
    ("unknown location", "USER,a@example.com,,,IP,8851,00CCFC000009,Mars,False", "Location", "no location"),
    ("USER with a phone number", "USER,a@example.com,+14085551234,,IP,8851,00CCFC000009,HQ,False",
     "Phone Number", "USER has no Phone Number"),
    ("USER with an extension", "USER,a@example.com,,1234,IP,8851,00CCFC000009,HQ,False", "Extension", "USER"),
    ("WORKSPACE without a number", "WORKSPACE,Lobby,,,IP,8851,00CCFC000009,HQ,False", "Phone Number", "E.164"),
    ("WORKSPACE, not E.164", "WORKSPACE,Lobby,4085551234,,IP,8851,00CCFC000009,HQ,False", "Phone Number", "E.164"),
    ("bad extension", "WORKSPACE,Lobby,+14085551234,12a,IP,8851,00CCFC000009,HQ,False", "Extension", "digits"),
    ("bad calling plan", "WORKSPACE,Lobby,+14085551234,,IP,8851,00CCFC000009,HQ,Maybe", "Calling plan",
     "True or False"),
    ("calling plan for a USER", "USER,a@example.com,,,IP,8851,00CCFC000009,HQ,True", "Calling plan", "WORKSPACE"),
    ("bad type", "ADMIN,a@example.com,,,IP,8851,00CCFC000009,HQ,False", "Type", "USER or WORKSPACE"),
    ("username missing", "USER,,,,IP,8851,00CCFC000009,HQ,False", "Username", "required"),
    ("USER not an e-mail", "USER,alice,,,IP,8851,00CCFC000009,HQ,False", "Username", "e-mail"),
    ("bad device type", "USER,a@example.com,,,ANALOG,8851,00CCFC000009,HQ,False", "Device Type", "IP"),
    ("MAC twice in the file", user(1), "MAC Address", "in this task already"),
]


@pytest.mark.parametrize("kind,row,column,words", BAD_ROWS, ids=[b[0] for b in BAD_ROWS])
def test_f6_each_bad_row_reported_with_row_and_column(bulk, kind, row, column, words):
    bulk.create(TASK)
    result = bulk.upload(TASK, csv_of(user(1), row, user(3)))
    assert result.added == 2  # the valid rows are added even so
    assert [(e.row, e.column) for e in result.errors] == [(3, column)]
    assert words in result.errors[0].message
    exported = list(csv.DictReader(io.StringIO(result.errors_csv)))
    assert [(r["Row"], r["Column"]) for r in exported] == [("3", column)]
    assert bulk.get(TASK).status == "Ready with errors"


def test_f6_good_rows_of_every_shape(bulk):
    bulk.create(TASK)
    result = bulk.upload(TASK, csv_of(
        "WORKSPACE,Lobby,+14085551234,2000,IP,8851,00:cc:fc:00:00:01,hq,True",  # any case; colon pairs
        "user,carol@example.com,,,,CP-8841-K9=,00ccfc000002,Hub_None,",  # defaults: IP, False
        "USER,dave@example.com,,,IP,Cisco 8861,00CCFC000003,HQ,false",
    ))
    assert result.errors == () and result.added == 3
    lobby, carol, dave = bulk.devices(TASK)
    assert (lobby.mac, lobby.location, lobby.calling_plan, lobby.phone_number) == (mac(1), "HQ", True, "+14085551234")
    assert (carol.account_type, carol.device_type, carol.model, carol.pid) == ("USER", "IP", "8841", "CP-8841-K9=")
    assert (dave.model, dave.pid) == ("8861", "CP-8861-K9=")


def test_f6_errors_file_fixed_and_uploaded_again(bulk, tmp_path):
    add_phones(bulk.db, 3, start=1)
    bulk.create(TASK)
    first = bulk.upload(TASK, csv_of(
        user(1),
        "USER,b@example.com,,,IP,8851,00CCFC00000,HQ,False",
        "WORKSPACE,Lobby,4085551234,,IP,8851,00CCFC000003,HQ,False",
    ))
    assert (first.added, first.refused, first.total) == (1, 2, 1)
    fixed = first.errors_csv.replace("00CCFC00000,", "00CCFC000002,").replace(",4085551234,", ",+14085551234,")
    second = bulk.upload(TASK, fixed)
    assert (second.added, second.refused, second.total) == (2, 0, 3)  # repeated uploads add up
    assert bulk.get(TASK).status == "Ready for migration"


def test_f6_the_last_upload_is_kept_for_every_process(both):
    """Its refused rows and errors CSV are the task's row: another Database object (another
    process, a restart) reads them; the next upload replaces them."""
    both.create(TASK)
    assert both.last_upload(TASK) is None
    first = both.upload(TASK, csv_of(user(1), "USER,b@example.com,,,IP,8851,not-a-mac,HQ,False"))
    other = Database(both.db.url)
    try:
        assert BulkTasks(other).last_upload(TASK) == first and first.refused == 1
        second = both.upload(TASK, csv_of(user(2)))
        assert BulkTasks(other).last_upload(TASK) == second and second.errors == ()
        with pytest.raises(Refused, match="no task named"):
            BulkTasks(other).last_upload("no-such-task")
    finally:
        other.dispose()


def test_f6_repeated_uploads_add_up(bulk):
    bulk.create(TASK)
    assert bulk.get(TASK).status == "Draft"
    one = bulk.upload(TASK, csv_of(user(1), user(2), user(3)))
    two = bulk.upload(TASK, csv_of(user(3), user(4), user(5)))
    assert (one.added, one.refused, one.total) == (3, 0, 3)
    assert (two.added, two.refused, two.total) == (2, 1, 5)
    assert two.errors[0].row == 2 and "in this task already" in two.errors[0].message


def test_f6_a_phone_in_another_task_is_refused(bulk):
    add_phones(bulk.db, 2, start=1)
    bulk.create("first")
    bulk.create("second")
    bulk.upload("first", csv_of(user(1)))
    result = bulk.upload("second", csv_of(user(1), user(2)))
    assert result.added == 1 and 'in task "first"' in result.errors[0].message


def test_f6_license_only_csv_has_model_and_mac(bulk):
    bulk.create(TASK, kind="license_only")
    result = bulk.upload(TASK, csv_of("8851,00CCFC000001", "8841,zz", header="Model,MAC Address"))
    assert result.added == 1 and [(e.row, e.column) for e in result.errors] == [(3, "MAC Address")]
    with pytest.raises(Refused, match="no Model, MAC Address column"):
        bulk.upload(TASK, "Type,Username\nUSER,a@example.com\n")


def test_f6_missing_column_refuses_the_file(bulk):
    bulk.create(TASK)
    with pytest.raises(Refused, match="Location"):
        bulk.upload(TASK, "Type,Username,Phone Number,Extension,Device Type,Model,MAC Address,Calling plan\n")


# --- eligibility, listing -------------------------------------------------------------------


def test_f6_eligibility_from_the_model_and_what_the_database_knows(bulk):
    with bulk.db.session() as session:
        session.add_all(Device(name="SEP" + mac(i), model=m) for i, m in ((1, "8851"), (2, "8851NR"), (3, "7821")))
        session.add(Device(name="SEP" + mac(4), model="8841"))
        session.add(Device(name="SEP" + mac(5), model="8851", reported_load="sip88xx.12-0-3MPP0001-87"))
    bulk.create(TASK)
    bulk.upload(TASK, csv_of(user(1, "8851"), user(2, "8851NR"), user(3, "7821"), user(4, "8861"), user(5, "8851")))
    found = {d.mac: d for d in bulk.devices(TASK)}
    assert [(found[mac(i)].eligibility, found[mac(i)].state) for i in range(1, 6)] == [
        ("eligible", "ready"),
        ("ineligible", "error"),  # F-1: never to MPP
        ("unknown", "error"),  # F-1: the 7821 converts from V03 to V24 only, and the CSV has no VID
        ("ineligible", "error"),  # the file says 8861, the database an 8841
        ("ineligible", "error"),  # the phone reports an MPP load already
    ]
    assert "VID" in found[mac(3)].reason and "8841" in found[mac(4)].reason and "already MPP" in found[mac(5)].reason
    assert found[mac(1)].target_load == "sip88xx.12-0-3MPP0001-87"
    bulk.set_include_unknown(TASK, True)  # digest: unknown devices are migrated when the admin opts in
    assert bulk.devices(TASK, eligibility="unknown")[0].state == "ready"


def test_f6_unknown_devices_migrate_only_when_the_task_says_so(bulk):
    add_phones(bulk.db, 2, model="7841", start=1)
    bulk.create("without")
    bulk.upload("without", csv_of(user(1, "7841")))
    with pytest.raises(Refused, match="no device ready"):
        bulk.start("without", SERVER)
    bulk.create("with", include_unknown=True)
    bulk.upload("with", csv_of(user(2, "7841")))
    bulk.start("with", SERVER)
    assert [r.complete for r in run_all(bulk, "with")] == [1]


def test_f6_search_and_filter(bulk):
    with bulk.db.session() as session:
        session.add_all(Device(name="SEP" + mac(i), model=m) for i, m in ((1, "8851"), (2, "8851NR"), (3, "8841")))
    bulk.create(TASK)
    bulk.upload(TASK, csv_of(user(1), user(2, "8851NR"), "WORKSPACE,Front Desk,+14085551234,2000,IP,8841,"
                             f"{mac(3)},Hub_None,True"))
    def macs(**kw):
        return [d.mac for d in bulk.devices(TASK, **kw)]
    assert macs(search="USER1@EXAMPLE") == [mac(1)]
    assert macs(search="front") == [mac(3)]
    assert macs(search="hub_n") == [mac(3)]
    assert macs(search="00:cc:fc:00:00:02") == [mac(2)]
    assert macs(search="never to mpp") == [] and macs(search="can never") == [mac(2)]
    assert macs(search="%") == [] and macs(search="_") == [mac(3)]  # wildcards are searched as text
    assert macs(eligibility="ineligible") == [mac(2)]
    assert macs(eligibility="eligible", search="hq") == [mac(1)]
    assert macs(state="error") == [mac(2)]


# --- running ---------------------------------------------------------------------------------


def test_f6_batches_of_200(both):
    started(both, 1000)
    results = run_all(both)
    assert [(r.batch, r.complete, r.queued) for r in results] == [(1, 200, 800), (2, 200, 600), (3, 200, 400),
                                                                  (4, 200, 200), (5, 200, 0)]
    assert [r.status for r in results] == ["In progress"] * 4 + ["Complete"]
    by_batch: dict[int, int] = {}
    for d in both.devices(TASK):
        by_batch[d.batch] = by_batch.get(d.batch, 0) + 1
        assert d.license_rule == f"tftp://{SERVER}/{d.mac}.lic"  # F-5: its own MAC, upper case
    assert by_batch == {1: 200, 2: 200, 3: 200, 4: 200, 5: 200}
    with both.db.read_session() as session:
        loads = set(session.exec(select(Device.load_override).where(Device.name.startswith("SEP00CCFC"))))
    assert loads == {"sip88xx.12-0-3MPP0001-87"}  # F-4 Table 6: now in every SEP<MAC>.cnf.xml (T-5)
    assert both.run_next_batch(TASK).batch is None  # nothing is ever done twice


def test_f6_two_runners_at_once_never_do_a_device_twice(both):
    """A "tasks resume" while the first runner still runs: each batch is one runner's, under the task's lock."""
    started(both, 1000)
    runners = [BulkTasks(Database(both.db.url)) for _ in range(2)]
    processed: list[int] = []

    def run(bulk: BulkTasks) -> None:
        processed.extend(r.processed for r in run_all(bulk))

    threads = [threading.Thread(target=run, args=(r,)) for r in runners]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    for runner in runners:
        runner.db.dispose()
    assert sum(processed) == 1000 and sorted(processed) == [200] * 5
    assert sorted(d.batch for d in both.devices(TASK)) == sorted([1, 2, 3, 4, 5] * 200)


def test_f6_one_task_in_progress_at_a_time(both):
    started(both, 300, "first")
    both.create("second")
    add_phones(both.db, 1, start=500)
    both.upload("second", csv_of(user(500)))  # tasks may be created and prepared meanwhile
    with pytest.raises(Refused, match='"first" is in progress'):
        both.start("second", SERVER)
    both.pause("first")
    with pytest.raises(Refused, match='"first" is in progress'):  # paused is still in progress
        both.start("second", SERVER)
    both.resume("first")
    run_all(both, "first")
    assert both.get("first").status == "Complete"
    both.start("second", SERVER)
    assert run_all(both, "second")[-1].status == "Complete"


def test_f6_the_index_keeps_one_task_in_progress_whatever_the_checks(both):
    both.create("a")
    both.create("b")
    with pytest.raises(IntegrityError):
        with both.db.session() as session:
            for task in session.exec(select(MigrationTask)):
                task.status = "In progress"
                session.add(task)


def test_f6_start_needs_devices_and_a_tftp_server(bulk):
    add_phones(bulk.db, 1, start=1)
    bulk.create(TASK)
    with pytest.raises(Refused, match="Draft"):
        bulk.start(TASK, SERVER)
    bulk.upload(TASK, csv_of(user(1)))
    with pytest.raises(Refused, match="TFTP server"):
        bulk.start(TASK)
    with pytest.raises(Refused, match="TFTP server"):
        bulk.start(TASK, "10.0.0.5/evil path")
    bulk.start(TASK, SERVER)
    assert bulk.start(TASK).tftp_server == SERVER  # in progress already: continues, kept the server


def test_f6_pause_mid_task_stops_after_the_current_batch(both):
    """A pause from elsewhere while batch 2 runs waits for it, then batch 3 does not start."""
    started(both, 1000)
    other = BulkTasks(Database(both.db.url))
    committed, order = threading.Event(), []

    def pause_elsewhere():
        other.pause(TASK)
        order.append("paused, batch 2 committed first" if committed.is_set() else "paused DURING batch 2")

    def hook(stage, number):
        if number == 2 and stage == "batch_selected":
            threading.Thread(target=pause_elsewhere).start()
            time.sleep(0.3)  # the pause now waits for this batch's lock on the task
        if number == 2 and stage == "batch_written":
            committed.set()  # the commit follows at once; the pause cannot overtake it

    BATCH_HOOKS.append(hook)
    try:
        assert both.run_next_batch(TASK).complete == 200
        second = both.run_next_batch(TASK)
    finally:
        BATCH_HOOKS.remove(hook)
    deadline = time.monotonic() + 30
    while not order and time.monotonic() < deadline:
        time.sleep(0.02)
    other.db.dispose()
    assert order == ["paused, batch 2 committed first"]
    assert (second.batch, second.complete) == (2, 200)
    stopped = both.run_next_batch(TASK)
    assert (stopped.batch, stopped.paused, stopped.status) == (None, True, "In progress")
    assert both.progress(TASK).done == 400
    both.resume(TASK)  # resume continues where it stopped
    assert [r.batch for r in run_all(both)] == [3, 4, 5]
    assert both.progress(TASK).counts == {"complete": 1000}


def test_f6_cancel_leaves_processed_devices_as_they_are(both):
    started(both, 1000)
    both.run_next_batch(TASK)
    both.run_next_batch(TASK)
    assert both.cancel(TASK) == 600
    progress = both.progress(TASK)
    assert progress.counts == {"complete": 400, "cancelled": 600} and progress.status == "Complete"
    with both.db.read_session() as session:
        pushed = dict(session.exec(select(Device.name, Device.load_override)
                                   .where(Device.name.startswith("SEP00CCFC"))).all())
    assert sum(1 for load in pushed.values() if load) == 400  # the cancelled phones were not touched
    assert both.run_next_batch(TASK).batch is None
    with pytest.raises(Refused, match="not in progress"):
        both.cancel(TASK)


def test_f6_per_device_pause_resume_cancel(bulk):
    add_phones(bulk.db, 5)
    bulk.create(TASK)
    bulk.upload(TASK, csv_of(*(user(i) for i in range(5))))
    assert bulk.pause(TASK, [mac(0), "00:cc:fc:00:00:01"]) == 2
    assert bulk.cancel(TASK, [mac(2)]) == 1
    bulk.start(TASK, SERVER)
    run_all(bulk)
    assert bulk.get(TASK).status == "In progress"  # two devices wait, paused one by one
    assert bulk.progress(TASK).counts == {"paused": 2, "cancelled": 1, "complete": 2}
    assert bulk.resume(TASK, [mac(0)]) == 1 and bulk.cancel(TASK, [mac(1)]) == 1
    assert [r.complete for r in run_all(bulk)] == [1]
    assert bulk.get(TASK).status == "Complete"
    assert bulk.progress(TASK).counts == {"cancelled": 2, "complete": 3}
    assert bulk.resume(TASK, [mac(2)]) == 0  # cancelled stays cancelled


def test_f6b_unknown_devices_are_said_at_upload_then_retried(bulk):
    """F-6b: a MAC the site has no phone for is an unknown device from the upload on, not ready."""
    bulk.create(TASK)
    bulk.upload(TASK, csv_of(user(1), user(2)))
    assert [d.state for d in bulk.devices(TASK)] == ["unknown_device"] * 2
    assert bulk.devices(TASK)[0].error.startswith(f"no phone SEP{mac(1)} in this site: add it")  # and what to do
    assert bulk.get(TASK).status == "Ready with errors" and bulk.progress(TASK).total == 0
    with pytest.raises(Refused, match="no device ready"):
        bulk.start(TASK, SERVER)
    add_phones(bulk.db, 2, start=1)
    assert bulk.retry(TASK) == 2  # known now: back to "Ready for migration"
    assert bulk.get(TASK).status == "Ready for migration"
    bulk.start(TASK, SERVER)
    assert run_all(bulk)[-1].status == "Complete"
    assert [d.batch for d in bulk.devices(TASK)] == [1, 1]


def test_f6_a_phone_replaced_here_fails(bulk):
    add_phones(bulk.db, 1, start=1, migrated=True, successor="SEPAABBCCDDEEFF")
    bulk.create(TASK)
    bulk.upload(TASK, csv_of(user(1)))
    bulk.start(TASK, SERVER)
    run_all(bulk)
    [device] = bulk.devices(TASK)
    assert device.state == "failed" and "replaced by SEPAABBCCDDEEFF" in device.error


def test_f6_mixed_outcome_is_complete_with_failures_reported(bulk):
    """F-6: a phone deleted after the upload fails at its push."""
    add_phones(bulk.db, 2, start=1)
    bulk.create(TASK)
    bulk.upload(TASK, csv_of(user(1), user(2)))
    with bulk.db.session() as session:
        session.delete(session.exec(select(Device).where(Device.name == "SEP" + mac(2))).one())
    bulk.start(TASK, SERVER)
    assert run_all(bulk)[-1].status == "Complete"
    assert bulk.progress(TASK).counts == {"complete": 1, "failed": 1}


def test_f6_a_crash_inside_a_batch_undoes_it(bulk):
    started(bulk, 450)
    bulk.run_next_batch(TASK)

    def crash(stage, number):
        if stage == "batch_written":
            raise RuntimeError("power cut")

    BATCH_HOOKS.append(crash)
    try:
        with pytest.raises(RuntimeError):
            bulk.run_next_batch(TASK)
    finally:
        BATCH_HOOKS.remove(crash)
    assert bulk.progress(TASK).counts == {"complete": 200, "in_progress": 250}
    assert [(r.batch, r.complete) for r in run_all(bulk)] == [(2, 200), (3, 50)]


CRASH_CHILD = r"""
import os, signal, sys
from models.storage.database import Database
from models.services.tasks import BATCH_HOOKS, BulkTasks

url, name, stage, at = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])

def crash(where, number):
    if where == stage and number == at:
        os.kill(os.getpid(), signal.SIGKILL)

BATCH_HOOKS.append(crash)
bulk = BulkTasks(Database(url))
bulk.start(name, "10.0.0.5")
while bulk.run_next_batch(name).batch is not None:
    pass
sys.exit(3)
"""


@pytest.mark.slow
@pytest.mark.parametrize("stage,at,done", [("batch_committed", 2, 400), ("batch_written", 3, 400),
                                           ("batch_selected", 1, 0)])
def test_f6_restart_after_a_crash_never_does_a_device_twice(demo_db, stage, at, done):
    """A runner killed between (or inside) batches; a new process resumes the task."""
    setup = BulkTasks(demo_db)
    add_phones(demo_db, 1000)
    setup.create(TASK)
    setup.upload(TASK, csv_of(*(user(i) for i in range(1000))))
    child = subprocess.run([sys.executable, "-c", CRASH_CHILD, demo_db.url, TASK, stage, str(at)], cwd=ROOT,
                           env={**os.environ, "PYTHONPATH": str(ROOT)}, capture_output=True, text=True, timeout=120)
    assert child.returncode == -9, child.stderr
    restarted = BulkTasks(Database(demo_db.url), clock=Ticking(2030))  # a new process: a new engine, a later clock
    try:
        before = {m: s for m, s in states(restarted).items() if s[0] == "complete"}
        assert len(before) == done
        assert restarted.progress(TASK).counts.get("in_progress") == 1000 - done  # nothing half done
        with restarted.db.read_session() as session:
            pushed = session.exec(select(Device.name).where(Device.load_override.is_not(None),
                                                            Device.name.startswith("SEP00CCFC"))).all()
        assert len(pushed) == done  # a crash inside a batch left none of its phones changed
        restarted.start(TASK)  # in progress already: continues
        assert [r.batch for r in run_all(restarted)] == list(range(done // 200 + 1, 6))
        after = states(restarted)
        assert all(after[m] == s for m, s in before.items())  # the devices done before were not done again
        assert sorted(b for _, b, _ in after.values()) == sorted([1, 2, 3, 4, 5] * 200)
        assert restarted.get(TASK).status == "Complete"
    finally:
        restarted.db.dispose()


# --- progress, report, export -----------------------------------------------------------------------


def test_f6_progress_for_a_progress_bar(bulk):
    started(bulk, 450)
    first = bulk.progress(TASK)
    assert (first.total, first.done, first.status) == (450, 0, "In progress")
    bulk.run_next_batch(TASK)
    assert (bulk.progress(TASK).done, bulk.progress(TASK).counts) == (200, {"complete": 200, "in_progress": 250})


def test_f6_status_report_csv(bulk):
    add_phones(bulk.db, 1, start=1)
    add_phones(bulk.db, 1, model="8851NR", start=3)
    add_phones(bulk.db, 1, model="8841", start=4)
    bulk.create(TASK)
    bulk.upload(TASK, csv_of(user(1), user(2), user(3, "8851NR"),
                             "WORKSPACE,Lobby,+14085551234,,IP,8841,00CCFC000004,HQ,True"))
    bulk.start(TASK, SERVER)
    run_all(bulk)
    rows = {r["MAC Address"]: r for r in csv.DictReader(io.StringIO(bulk.report_csv(TASK)))}
    assert list(rows[mac(1)])[:10] == ["Task", *HEADER.split(",")]
    assert (rows[mac(1)]["State"], rows[mac(1)]["Batch"], rows[mac(1)]["License rule"]) == (
        "complete", "1", f"tftp://{SERVER}/{mac(1)}.lic")
    assert rows[mac(2)]["State"] == "unknown_device"  # F-6b: said at upload, never pushed
    assert (rows[mac(3)]["Eligibility"], rows[mac(3)]["State"]) == ("ineligible", "error")
    assert rows[mac(4)]["Phone Number"] == "+14085551234" and rows[mac(4)]["Calling plan"] == "True"
    only = list(csv.DictReader(io.StringIO(bulk.report_csv(TASK, state="unknown_device"))))
    assert [r["MAC Address"] for r in only] == [mac(2)]


def test_f6_export_one_file_per_model_group(bulk):
    bulk.create(TASK, include_unknown=True)  # the 7841 is unknown without its VID
    models = [*DIGEST_EXPORT, "8851NR"]
    with bulk.db.session() as session:
        session.add_all(Device(name="SEP" + mac(i), model=m) for i, m in enumerate(models))
    bulk.upload(TASK, csv_of(*(user(i, m) for i, m in enumerate(models))))
    files = bulk.export(TASK)
    expected: dict[str, set] = {}
    for i, model in enumerate(DIGEST_EXPORT):
        group, load = DIGEST_EXPORT[model]
        expected.setdefault(f"{TASK.replace('.', '_')}_{group}.csv", set()).add(("SEP" + mac(i), mac(i), model, load))
    assert {name: {tuple(r.values()) for r in csv.DictReader(io.StringIO(text))} for name, text in files.items()} \
        == expected  # the ineligible 8851NR is in none
    for name in files:
        assert check_upload_file_name(name) == name


def test_f6_license_only_task_records_the_license_and_leaves_the_load(bulk):
    add_phones(bulk.db, 1, start=1)
    bulk.create(TASK, kind="license_only")
    bulk.upload(TASK, csv_of("8851,00CCFC000001", header="Model,MAC Address"))
    bulk.start(TASK, SERVER)
    run_all(bulk)
    [device] = bulk.devices(TASK)
    assert (device.state, device.license_rule) == ("complete", f"tftp://{SERVER}/{mac(1)}.lic")
    with bulk.db.read_session() as session:
        assert session.exec(select(Device.load_override).where(Device.name == "SEP" + mac(1))).one() is None


def test_f6_mpp_to_enterprise_task(bulk):
    add_phones(bulk.db, 1, start=1)
    bulk.create(TASK, direction=Direction.M2E)
    bulk.upload(TASK, csv_of(user(1, "8851")))
    [device] = bulk.devices(TASK)
    assert (device.pid, device.eligibility, device.target_load) == (
        "CP-8851-3PCC-K9=", "eligible", "sip88xx.14-2-1-0101-26")
    bulk.start(TASK, SERVER)
    run_all(bulk)
    assert bulk.devices(TASK)[0].license_rule == f"http://{SERVER}:6970/{mac(1)}_M2E.lic"  # overview, M2E rule


def test_f6_refresh_reads_what_the_phones_report(bulk):
    started(bulk, 2)
    run_all(bulk)
    with bulk.db.session() as session:
        phone = session.exec(select(Device).where(Device.name == "SEP" + mac(0))).one()
        phone.reported_load = "sip88xx.12-0-3MPP0001-87"
        session.add(phone)
    bulk.refresh(TASK)
    assert [d.phone_load for d in bulk.devices(TASK)] == ["sip88xx.12-0-3MPP0001-87", None]


def test_f6_task_tables_do_not_invalidate_cached_config_files(bulk):
    from models.storage.stamp import current_version

    with bulk.db.read_session() as session:
        before = current_version(session)
    bulk.create(TASK)
    bulk.upload(TASK, csv_of(user(1)))
    with bulk.db.read_session() as session:
        assert current_version(session) == before


# --- CLI ----------------------------------------------------------------------------------------


@pytest.fixture
def cli(sqlite_url):
    runner = CliRunner()

    def run(*args):
        return runner.invoke(main, ["--database", sqlite_url, *args], catch_exceptions=False)

    assert run("init-db", "--demo").exit_code == 0
    return run


def test_f6_cli_create_upload_list_show(cli, sqlite_url, tmp_path):
    """F-6, F-6b, F-6c: the CLI words the task as the other doors do and lists the actions its state allows."""
    db = Database(sqlite_url)
    with db.session() as session:
        session.add_all(Device(name="SEP" + mac(i), model=m) for i, m in ((1, "8851"), (2, "8851NR")))
    db.dispose()
    assert "created" in cli("tasks", "create", TASK, "--include-unknown").output
    upload = tmp_path / "devices.csv"
    upload.write_text(csv_of(user(1), user(2, "8851NR"), user(3, "7841"), "USER,x@example.com,,,IP,8851,zz,HQ,False"))
    result = cli("tasks", "upload", TASK, str(upload), "--errors-out", str(tmp_path / "errors.csv"))
    assert result.exit_code == 0
    assert "Added: 3\nRefused rows: 1\nTotal uploaded: 3" in result.output and "row 5 MAC Address" in result.output
    assert "zz" in (tmp_path / "errors.csv").read_text()
    ready = "Ready: 1 device to migrate, 1 device not eligible, 1 device unknown to the site"
    assert TASK in cli("tasks", "list").output and ready in cli("tasks", "list").output
    whole = cli("tasks", "show", TASK).output
    assert "actions: upload, start, retry, refresh\n" in whole and f"{mac(3)} 7841" in whole
    assert "Unknown device" in whole.split(mac(3))[1].splitlines()[0]  # F-6b: said at upload
    shown = cli("tasks", "show", TASK, "--eligibility", "ineligible").output
    assert mac(2) in shown and mac(1) not in shown
    searched = cli("tasks", "show", TASK, "--search", "USER3@").output
    assert mac(3) in searched and mac(1) not in searched
    bad = tmp_path / ".hidden.csv"
    bad.write_text(csv_of(user(9)))
    refused = cli("tasks", "upload", TASK, str(bad))
    assert refused.exit_code == 1 and "does not start with a dot" in refused.output


def test_f6_cli_start_pause_from_another_process_resume_report_export(cli, sqlite_url, tmp_path):
    db = Database(sqlite_url)
    add_phones(db, 500)
    (tmp_path / "devices.csv").write_text(csv_of(*(user(i) for i in range(500))))
    cli("tasks", "create", TASK)
    cli("tasks", "upload", TASK, str(tmp_path / "devices.csv"))

    def pause_elsewhere(stage, number):  # another process's "tasks pause", between two batches
        if stage == "batch_committed" and number == 1:
            BulkTasks(db).pause(TASK)

    BATCH_HOOKS.append(pause_elsewhere)
    try:
        first = cli("tasks", "start", TASK, "--tftp-server", SERVER)
    finally:
        BATCH_HOOKS.remove(pause_elsewhere)
    assert first.exit_code == 0 and "paused after 200/500" in first.output
    assert "phone" in first.stderr  # the tqdm progress bar
    resumed = cli("tasks", "resume", TASK)
    assert "Complete (complete 500)" in resumed.output
    report = cli("tasks", "report", TASK, "-o", str(tmp_path / "report.csv"))
    assert report.exit_code == 0 and len((tmp_path / "report.csv").read_text().splitlines()) == 501
    exported = cli("tasks", "export", TASK, "--dir", str(tmp_path / "out"))
    assert f"{TASK}_sip88xx.csv: 500 devices" in exported.output
    assert cli("tasks", "pause", TASK).exit_code == 1  # ended: nothing to pause
    db.dispose()


def test_f6_cli_cancel_and_per_device(cli, sqlite_url, tmp_path):
    db = Database(sqlite_url)
    add_phones(db, 3)
    db.dispose()
    (tmp_path / "devices.csv").write_text(csv_of(*(user(i) for i in range(3))))
    cli("tasks", "create", TASK)
    cli("tasks", "upload", TASK, str(tmp_path / "devices.csv"))
    assert "1 device paused" in cli("tasks", "pause", TASK, "--mac", mac(0)).output
    assert "1 device cancelled" in cli("tasks", "cancel", TASK, "--mac", mac(1)).output
    assert "in progress, 2/3" in cli("tasks", "start", TASK, "--tftp-server", SERVER).output
    assert "1 device cancelled" in cli("tasks", "cancel", TASK).output
    assert "Finished: 1 pushed, 2 cancelled" in cli("tasks", "list").output  # F-6b


def test_f7_dhcp_option150_cli(cli):
    result = cli("dhcp-option150", "192.168.1.1")
    assert result.exit_code == 0
    assert "network byte order): C0A80101" in result.output
    assert "byte-reversed" in result.output and "0101A8C0" in result.output
    two = cli("dhcp-option150", "192.168.1.1", "10.0.0.1").output
    assert "C0A801010A000001" in two and "0101A8C00100000A" in two
    bad = cli("dhcp-option150", "192.168.1.300")
    assert bad.exit_code == 1 and "error:" in bad.output
