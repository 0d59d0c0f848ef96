"""W-1..W-3: replacement waves through the one service (models.services.waves) and the config files."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
from lxml import etree
from sqlmodel import func, select

from models.rules import waves as rules
from models.rules.catalog import default_catalog
from models.rules.clock import utcnow
from models.rules.refusals import Refused
from models.services.waves import STALE_CLAIM, Waves
from models.storage.devices import delete_device
from models.tables.devices import Device
from models.tables.lines import LineAppearance
from models.tables.records import MigrationRecord
from models.tables.waves import WaveRow
from phoneservice.configfiles.cnf import ServerInfo
from phoneservice.configfiles.files import ConfigFiles
from phoneservice.observe import Metrics

HEADER = "Old Device,New MAC,Model,Template,Description\n"


def csv_of(*rows: str) -> str:
    return HEADER + "".join(row + "\n" for row in rows)


@pytest.fixture
def files(demo_db, tmp_path):
    return ConfigFiles(demo_db, default_catalog(), ServerInfo(), tmp_path, tmp_path, Metrics())


def migrated(db, new: str) -> int:
    with db.read_session() as s:
        return s.exec(select(func.count()).select_from(MigrationRecord).where(
            MigrationRecord.new_device == new, MigrationRecord.outcome == "migrated")).one()


def test_w1_rows_are_planned_at_upload_and_bad_rows_kept_as_an_errors_csv(demo_db):
    """W-1: good rows are staged with the C-15 preview's summary; bad rows get their row and column."""
    view = Waves(demo_db).stage("swap-1", csv_of(
        "SEP001122330002,AA:BB:CC:00:00:01,7811,,", "SEP001122330010,nonsense,8851,,",
        "SEPFFFFFFFFFFFF,AABBCC000003,8851,,", "SEP001122330011,AABBCC000004,,,kept model"), by="t")
    assert [(r.row, r.state) for r in view.rows] == [(2, "staged"), (5, "staged")]
    assert view.rows[0].summary and any("line" in s for s in view.rows[0].summary)  # 2 lines onto a 1-line 7811
    assert view.rows[1].model == "7841"  # no model or template: the old phone's
    assert view.counts["staged"] == 2
    errors = Waves(demo_db).errors_csv("swap-1").splitlines()
    assert errors[0].endswith("Row,Column,Error")
    assert errors[1].startswith("SEP001122330010,nonsense") and ",3,New MAC," in errors[1]
    assert ",4,," in errors[2] and "SEPFFFFFFFFFFFF" in errors[2]


def test_w1_a_wave_holds_at_most_1000_rows_and_names_are_unique(demo_db):
    """W-1: 1001 rows refuse the file whole; a second wave of the same name is refused."""
    big = csv_of(*(f"SEP0011223300{i:02X},AABBCC00{i:04X},8851,," for i in range(1001)))
    with pytest.raises(Refused) as caught:
        Waves(demo_db).stage("big", big)
    assert caught.value.code == "too_many_rows"
    Waves(demo_db).stage("w", csv_of("SEP001122330010,AABBCC000001,8851,,"))
    with pytest.raises(Refused) as caught:
        Waves(demo_db).stage("w", csv_of("SEP001122330011,AABBCC000002,8851,,"))
    assert caught.value.code == "wave_exists"


def test_w2_first_fetch_applies_the_row_and_gets_the_new_file(demo_db, files):
    """W-2: the new MAC's first request is answered with its new configuration (door wave, no PIN)."""
    Waves(demo_db).stage("w", csv_of("SEP001122330010,AABBCC000001,8851,,"))
    data = files.resolve("SEPAABBCC000001.cnf.xml")
    assert data is not None and etree.fromstring(data).findtext(".//line/name") is not None
    row = Waves(demo_db).show("w").rows[0]
    assert row.state == "applied" and row.record_id is not None
    with demo_db.read_session() as s:
        record = s.get(MigrationRecord, row.record_id)
        assert (record.door, record.old_device, record.outcome) == ("wave", "SEP001122330010", "migrated")


def test_w2_c12_concurrent_fetches_apply_exactly_once(demo_db, files):
    """W-2 under C-12: eight fetches of one staged MAC at once, one migration, every fetch gets the file."""
    Waves(demo_db).stage("w", csv_of("SEP001122330010,AABBCC000001,8851,,"))
    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(lambda _: files.resolve("SEPAABBCC000001.cnf.xml"), range(8)))
    assert all(a is not None for a in answers) and len(set(answers)) == 1
    assert migrated(demo_db, "SEPAABBCC000001") == 1


def test_w3_cancelled_row_stays_untouched(demo_db, files):
    """W-3: a cancelled row does not apply; an applied row cannot be cancelled."""
    waves = Waves(demo_db)
    waves.stage("w", csv_of("SEP001122330010,AABBCC000001,8851,,", "SEP001122330011,AABBCC000002,8851,,"))
    assert waves.cancel("w", 2).state == "cancelled"
    files.resolve("SEPAABBCC000001.cnf.xml")
    files.resolve("SEPAABBCC000002.cnf.xml")
    assert migrated(demo_db, "SEPAABBCC000001") == 0
    with pytest.raises(Refused) as caught:
        waves.cancel("w", 3)
    assert caught.value.code == "wave_row_not_staged"
    for missing in (4, 0, 2**64):  # no such row; one past what the id column holds is not a 500 either
        with pytest.raises(Refused) as caught:
            waves.cancel("w", missing)
        assert caught.value.code == "unknown_wave_row"
    report = waves.report_csv("w").splitlines()
    assert report[0] == ",".join(rules.REPORT_COLUMNS)
    assert report[1].startswith("2,SEP001122330010,SEPAABBCC000001,8851,,cancelled")
    assert report[2].startswith("3,SEP001122330011,SEPAABBCC000002,8851,,applied")


def test_w2_a_deleted_old_phone_fails_with_its_reason(demo_db, files):
    """W-2: the old phone deleted after upload: the row fails, saying why."""
    Waves(demo_db).stage("w", csv_of("SEP001122330010,AABBCC000001,8851,,"))
    with demo_db.session() as s:
        delete_device(s, s.exec(select(Device).where(Device.name == "SEP001122330010")).one())
    files.resolve("SEPAABBCC000001.cnf.xml")
    row = Waves(demo_db).show("w").rows[0]
    assert row.state == "failed" and "SEP001122330010" in row.reason


def test_w2_an_old_phone_that_now_loses_more_is_held(demo_db, files):
    """W-2: re-planned at apply; a second line added since upload does not fit a 7811: held, not applied."""
    Waves(demo_db).stage("w", csv_of("SEP001122330010,AABBCC000001,7811,,"))
    with demo_db.session() as s:
        old = s.exec(select(Device).where(Device.name == "SEP001122330010")).one()
        other = s.exec(select(Device).where(Device.name == "SEP001122330002")).one()
        second = s.exec(select(LineAppearance).where(LineAppearance.device_id == other.id,
                                                     LineAppearance.position == 2)).one()
        s.add(LineAppearance(device_id=old.id, dn_id=second.dn_id, position=2, label="second"))
    files.resolve("SEPAABBCC000001.cnf.xml")
    row = Waves(demo_db).show("w").rows[0]
    assert row.state == "held" and "lose" in row.reason
    assert migrated(demo_db, "SEPAABBCC000001") == 0


def test_w3_an_applied_row_whose_migration_r6_confirmed_shows_confirmed(demo_db, files):
    """W-3 with R-6: once the new phone registered with its new line 1, its row shows as confirmed."""
    Waves(demo_db).stage("w", csv_of("SEP001122330010,AABBCC000001,8851,,"))
    files.resolve("SEPAABBCC000001.cnf.xml")
    view = Waves(demo_db).show("w")
    with demo_db.session() as s:
        s.get(MigrationRecord, view.rows[0].record_id).confirmed_at = utcnow()
    view = Waves(demo_db).show("w")
    assert view.rows[0].state == "confirmed" and view.counts["confirmed"] == 1 and view.done == 1


def test_w2_a_claim_left_by_a_dead_process_is_taken_over(demo_db, files):
    """W-2: a row left *applying* by a process that died applies on a later fetch once the claim is stale."""
    Waves(demo_db).stage("w", csv_of("SEP001122330010,AABBCC000001,8851,,"))
    with demo_db.session() as s:
        row = s.exec(select(WaveRow)).one()
        row.state, row.claimed_at = "applying", utcnow() - STALE_CLAIM - timedelta(seconds=1)
    assert files.resolve("SEPAABBCC000001.cnf.xml") is not None
    assert Waves(demo_db).show("w").rows[0].state == "applied"
    assert migrated(demo_db, "SEPAABBCC000001") == 1
