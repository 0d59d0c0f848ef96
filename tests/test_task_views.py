"""F-6, F-6d, through the engine (``models.services.task_views``): a page of a task's devices cut in
SQL, and pushed vs confirmed from the load each phone reports (``PUT .../registration``'s ``load``)."""

from __future__ import annotations

import pytest

from models.rules.catalog import default_catalog
from models.services.phones import Phones
from models.services.tasks import BulkTasks
from tests.test_tasks import SERVER, TASK, Ticking, add_phones, csv_of, mac, run_all, user

TARGET = "sip88xx.12-0-3MPP0001-87"  # F-4 Table 6: the 8851's MPP load


@pytest.fixture
def bulk(demo_db):
    """The demo site on SQLite, then PostgreSQL: the page and the confirmations are SQL."""
    return BulkTasks(demo_db, clock=Ticking())


def test_f6_a_page_of_devices_is_cut_in_the_query(bulk):
    """F-6: 120 devices, 50 a page, in upload order, with how many match on every page."""
    add_phones(bulk.db, 120)
    bulk.create(TASK)
    bulk.upload(TASK, csv_of(*(user(i) for i in range(120))))
    first, last = bulk.device_page(TASK), bulk.device_page(TASK, offset=100)
    assert (first.total, len(first.rows), first.rows[0].device.mac) == (120, 50, mac(0))
    assert (last.total, [r.device.mac for r in last.rows]) == (120, [mac(i) for i in range(100, 120)])
    searched = bulk.device_page(TASK, search=mac(7), limit=5)
    assert (searched.total, [r.device.mac for r in searched.rows]) == (1, [mac(7)])
    assert bulk.device_page(TASK, state="ready", offset=500).rows == ()


def test_f6d_pushed_is_confirmed_once_the_phone_reports_the_target_load(bulk):
    """F-6d: a pushed device waits for its phone; the phone reporting the target load confirms it, at
    once (no refresh needed); a license-only task has nothing to confirm."""
    add_phones(bulk.db, 3)
    bulk.create(TASK)
    bulk.upload(TASK, csv_of(user(0), user(1), user(2)))
    bulk.start(TASK, SERVER)
    run_all(bulk)
    progress = bulk.progress(TASK)
    assert (progress.to_confirm, progress.confirmed) == (3, 0)
    assert {r.confirmation for r in bulk.device_page(TASK).rows} == {"waiting"}
    phones = Phones(bulk.db, default_catalog())
    phones.set_registration("SEP" + mac(1), "registered", load=TARGET)
    phones.set_registration("SEP" + mac(2), "registered", load="sip88xx.14-2-1-0101-26")  # not yet the new one
    progress = bulk.progress(TASK)
    assert (progress.to_confirm, progress.confirmed) == (3, 1)
    assert [r.device.mac for r in bulk.device_page(TASK, state="confirmed").rows] == [mac(1)]
    waiting = bulk.device_page(TASK, state="waiting")
    assert (waiting.total, [r.device.mac for r in waiting.rows]) == (2, [mac(0), mac(2)])


def test_f6d_a_license_only_task_has_nothing_to_confirm(bulk):
    """F-6d: a license-only task pushes no load, so none of its devices waits for a phone."""
    add_phones(bulk.db, 1)
    bulk.create(TASK, kind="license_only")
    bulk.upload(TASK, csv_of(f"8851,{mac(0)}", header="Model,MAC Address"))
    bulk.start(TASK, SERVER)
    run_all(bulk)
    assert bulk.progress(TASK).to_confirm == 0
    assert [r.confirmation for r in bulk.device_page(TASK).rows] == [None]
    assert bulk.device_page(TASK, state="waiting").total == 0
