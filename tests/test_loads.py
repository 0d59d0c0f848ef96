"""Loads through the rendered ``SEP<MAC>.cnf.xml``: T-5 overrides, F-7 stepping stones.

The stones are copied from docs/sources.md ("79xx TFTP conversion", "The steps": the source's step
3b ("load version 3 (P00303010102), then load to version 5 (P00305000500),
then jump to version 8.0.9 (P00308000900)")); the downgrade from
docs/sources.md "79xx stuck load" (edit SEP<MAC>.cnf.xml, MAC upper case, reset).
"""

from __future__ import annotations

import pytest
from lxml import etree
from sqlmodel import select

from models.rules.catalog import default_catalog
from models.services.site import create_device
from models.services.tasks import BulkTasks
from models.tables.devices import Device
from models.tables.settings import DeviceDefaults
from phoneservice.configfiles.cnf import ServerInfo
from phoneservice.configfiles.files import ConfigFiles
from phoneservice.observe import Metrics

PHONE = "SEP00AA00796000"  # a 7960 SCCP
CATALOG_7960_SCCP = "P00308010200"  # catalog.toml: the 7960's default SCCP load
STONES = ["P00303010102", "P00305000500", "P00308000900"]


@pytest.fixture
def files(demo_db, tmp_path):
    (tmp_path / "loads").mkdir()
    (tmp_path / "licenses").mkdir()
    with demo_db.session() as session:
        create_device(session, PHONE[3:], "7960", "SCCP", description="old 7960")
    return ConfigFiles(demo_db, default_catalog(), ServerInfo(), tmp_path / "loads", tmp_path / "licenses", Metrics())


def update(db, name: str, **fields) -> None:
    with db.session() as session:
        device = session.exec(select(Device).where(Device.name == name)).one()
        for key, value in fields.items():
            setattr(device, key, value)
        session.add(device)


def served(files: ConfigFiles, name: str) -> str:
    return etree.fromstring(files.resolve(f"{name}.cnf.xml")).findtext("loadInformation")


def test_f7_rendered_config_steps_one_stone_per_reboot(files, demo_db):
    """F-7: SCCP 3.x -> P00303010102 -> P00305000500 -> P00308000900 -> the wanted load."""
    assert served(files, PHONE) == CATALOG_7960_SCCP  # nothing reported yet: the wanted load
    seen = []
    reported = "P00303000300"  # SCCP 3.0
    for _ in range(6):
        update(demo_db, PHONE, reported_load=reported)
        seen.append(served(files, PHONE))
        reported = seen[-1]  # the phone reboots onto what it was given, and reports it
    assert seen == [*STONES, CATALOG_7960_SCCP, CATALOG_7960_SCCP, CATALOG_7960_SCCP]


def test_f7_t5_an_override_beyond_a_stone_is_stepped_too(files, demo_db):
    update(demo_db, PHONE, load_override="P00308000900", reported_load="P00303010102")
    assert served(files, PHONE) == "P00305000500"
    update(demo_db, PHONE, reported_load="P00305000500")
    assert served(files, PHONE) == "P00308000900"


def test_f7_to_a_sip_load_through_the_stones(files, demo_db):
    update(demo_db, PHONE, load_override="P0S3-8-12-00", reported_load="P00305000500")
    assert served(files, PHONE) == "P00308000900"
    update(demo_db, PHONE, reported_load="P00308000900")
    assert served(files, PHONE) == "P0S3-8-12-00"


def test_f7_s6_a_model_default_is_stepped_too(files, demo_db):
    with demo_db.session() as session:
        session.add(DeviceDefaults(model="7960", load="P00308000900"))
    update(demo_db, PHONE, reported_load="P00303010102")
    assert served(files, PHONE) == "P00305000500"


def test_t5_the_override_downgrades_a_stuck_phone(files, demo_db):
    """The stuck-load document: a phone on 3.1 that must go back to 3.0 gets the override as it is."""
    update(demo_db, PHONE, reported_load="P00303010102", load_override="P00303000300")
    assert served(files, PHONE) == "P00303000300"  # going down takes no stepping stone
    assert files.resolve("sep00aa00796000.cnf.xml") == files.resolve(PHONE + ".cnf.xml")  # MAC in any case


def test_f7_only_phones_on_sccp_3_x_loads_step(files, demo_db):
    update(demo_db, "SEP001122330001", reported_load="SCCP45.8-5-2S")  # the demo's 7965: a Java load
    wanted = served(files, "SEP001122330001")
    assert wanted.startswith("SCCP") and wanted != "SCCP45.8-5-2S"
    update(demo_db, PHONE, reported_load="not a load")
    assert served(files, PHONE) == CATALOG_7960_SCCP


def test_t5_a_bulk_task_batch_reaches_the_config(files, demo_db):
    """F-6 -> T-5: a batch's target load is the phone's override, so its config names it."""
    bulk = BulkTasks(demo_db)
    bulk.create("t5")
    bulk.upload("t5", "Type,Username,Phone Number,Extension,Device Type,Model,MAC Address,Location,Calling plan\n"
                      "USER,bob@example.com,,,IP,8851,00:11:22:33:00:02,HQ,False\n")
    before = served(files, "SEP001122330002")
    bulk.start("t5", "10.0.0.5")
    bulk.run_next_batch("t5")
    assert before != "sip88xx.12-0-3MPP0001-87"
    assert served(files, "SEP001122330002") == "sip88xx.12-0-3MPP0001-87"  # F-4 Table 6
