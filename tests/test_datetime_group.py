"""T-7: a device pool's date/time group as data: checked, rendered into SEP<MAC>.cnf.xml in the
shape CUCM 12.5 writes, carried by a migration and by BAT import/export (issue #16)."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner
from lxml import etree
from sqlmodel import select

from models.rules import datetime_group
from models.rules.catalog import default_catalog
from models.rules.datetime_group import DEFAULT, DateTimeGroup, checked
from models.rules.plan import Target
from models.rules.refusals import Refused
from models.services.bat import BatRejected, export_text, import_bat
from models.services.migration import Migrator
from models.services.provisioning import device_config
from models.storage.database import Database
from models.storage.devicepools import date_time_group, save_date_time_group
from models.tables.devicepools import DevicePool
from phoneservice.cli import main
from phoneservice.configfiles.cnf import ServerInfo, render_device

SCHEMA = etree.RelaxNG(etree.parse(str(Path(__file__).parents[1] / "phoneservice" / "configfiles" / "schemas" / "cnf.rng")))
CAT = default_catalog()
HQ = DateTimeGroup("HQ Eastern", "Eastern Standard/Daylight Time", "America/New_York", "M/D/YA",
                   ("192.0.2.123", "ntp.hq.example.com"))
# Paths under devicePool/dateTimeSetting in the SEP file CUCM 12.5 wrote for a 7821
# (acaeti/friendly-waldo friendly-waldo.rb), in its order.
CUCM_DATETIME = ["name", "dateTemplate", "timeZone", "olsonTimeZone", "ntps"]
CUCM_NTP = ["name", "nameV6", "ntpMode"]


def rendered(db, name):
    with db.session() as s:
        root = etree.fromstring(render_device(device_config(s, name, CAT), ServerInfo()))
    assert SCHEMA.validate(root), SCHEMA.error_log.last_error
    return root


@pytest.mark.parametrize("template", ["M/D/Y", "D/M/Y", "Y/M/D", "D-M-YY", "M.D.YA", "D/M/YYA", "YY-M-D"])
def test_t7_date_templates_cucm_offers_are_accepted(template):
    """T-7: D/M/Y, M/D/Y or Y/M/D with one of - . /, Y or YY, A for 12 hours (the dateTemplate
    notes of usecallmanagernz/usecallmanagernz.github.io sepmac-cnf-xml.html)."""
    assert checked("G", "Greenwich Standard Time", "", template, []).date_template == template


@pytest.mark.parametrize("template", ["", "M/D", "D/D/Y", "M/D-Y", "MM/DD/YYYY", "Y/D/M"])
def test_t7_bad_date_templates_are_refused(template):
    """T-7: anything else is refused with its reason."""
    with pytest.raises(Refused) as refused:
        checked("G", "Greenwich Standard Time", "", template, [])
    assert refused.value.code == "bad_datetime_group" and "date template" in refused.value.message


def test_t7_ntp_servers_are_checked():
    """T-7: at most 4 servers, each a host name or address of up to 50 characters, none twice."""
    assert checked("G", "Z", "", "M/D/Y", ["10.0.0.1", " ntp.example.org ", ""]).ntp_servers == ("10.0.0.1", "ntp.example.org")
    for servers in (["a", "b", "c", "d", "e"], ["x" * 51], ["bad name"], ["10.0.0.1", "10.0.0.1"]):
        with pytest.raises(Refused):
            checked("G", "Z", "", "M/D/Y", servers)


def test_t7_a_pools_group_is_rendered_as_cucm_12_5_writes_it(demo_db):
    """CUCM 12.5's 7821 file (acaeti/friendly-waldo): dateTimeSetting holds the group's name,
    dateTemplate, timeZone, olsonTimeZone and ntps, one ntp (name, nameV6, ntpMode Unicast) per
    server in order. Bob's 8851 is in the demo's HQ_DP: Eastern time, not Greenwich."""
    root = rendered(demo_db, "SEP001122330002")
    setting = root.find("devicePool/dateTimeSetting")
    assert [e.tag for e in setting] == CUCM_DATETIME
    assert [setting.findtext(t) for t in CUCM_DATETIME[:4]] == ["HQ Eastern", "M/D/YA", "Eastern Standard/Daylight Time",
                                                                "America/New_York"]
    ntps = setting.findall("ntps/ntp")
    assert [[e.tag for e in ntp] for ntp in ntps] == [CUCM_NTP, CUCM_NTP]
    assert [(n.findtext("name"), n.findtext("ntpMode")) for n in ntps] == [("192.0.2.123", "Unicast"),
                                                                          ("ntp.hq.example.com", "Unicast")]


def test_t7_a_pool_without_a_group_gets_the_default_and_no_ntps(demo_db):
    """T-7: a pool the site holds no group for renders CMLocal on Greenwich time and no ntps
    element (the phone then takes its time from the call control)."""
    root = rendered(demo_db, "SEP001122330010")  # carol's 8841, pool Default
    assert root.findtext("devicePool/dateTimeSetting/timeZone") == DEFAULT.time_zone == "Greenwich Standard Time"
    assert root.find("devicePool/dateTimeSetting/ntps") is None


def test_t7_c11_a_migrated_phone_gets_the_old_phones_pool_and_its_clock(demo_db):
    """C-11 and T-7: the new phone takes the old phone's device pool, so its file carries that
    pool's date/time group (it used to say Greenwich whatever the pool)."""
    result = Migrator(demo_db).migrate("SEP001122330001", Target(mac="AABBCCDDEEFF", model="8861", protocol="SIP"),
                                       door="admin", actor="t")
    assert result.applied
    setting = rendered(demo_db, "SEPAABBCCDDEEFF").find("devicePool/dateTimeSetting")
    assert setting.findtext("timeZone") == "Eastern Standard/Daylight Time"
    assert [n.findtext("name") for n in setting.findall("ntps/ntp")] == list(HQ.ntp_servers)


def test_t7_a_pools_group_change_moves_its_phones_files(demo_db):
    """T-7: changing a pool's group changes what its phones download (the site stamp moves)."""
    before = rendered(demo_db, "SEP001122330002").findtext("versionStamp")
    with demo_db.session() as s:
        save_date_time_group(s, "HQ_DP", checked("HQ Central", "Central Standard/Daylight Time", "America/Chicago",
                                                 "D/M/Y", ["192.0.2.124"]))
    root = rendered(demo_db, "SEP001122330002")
    assert root.findtext("devicePool/dateTimeSetting/timeZone") == "Central Standard/Daylight Time"
    assert root.findtext("versionStamp") != before


def test_t7_bat_all_details_export_then_import_carries_the_group(demo_db, tmp_path):
    """T-7: All Details exports each phone's pool's group in five columns after CUCM's (Date/Time
    Group, Time Zone, Olson Time Zone, Date Template, Phone NTP References, servers separated by
    ;); importing that export into an empty site gives the pool the same group."""
    text = export_text(demo_db)
    header = text.splitlines()[0].split(",")
    assert [t for t, _ in datetime_group.BAT_COLUMNS] == header[header.index("Module 3") + 1:][:5]
    assert "192.0.2.123;ntp.hq.example.com" in text
    empty = Database(f"sqlite:///{tmp_path / 'empty.db'}")
    try:
        empty.upgrade()
        import_bat(empty, text)
        with empty.session() as s:
            assert date_time_group(s, "HQ_DP") == HQ
            assert date_time_group(s, "Default") == DEFAULT
    finally:
        empty.dispose()


BAT_HEAD = "Device Name,Device Type,Device Pool,Date/Time Group,Time Zone,Date Template,Phone NTP References,Directory Number 1\n"


def test_t7_bat_rows_must_agree_on_a_pools_group(sqlite_db):
    """T-7: two rows giving one pool two groups, or a bad group, are bad rows; nothing is imported."""
    text = BAT_HEAD + ("SEP0011223344A1,Cisco 8851,Paris_DP,Paris,Romance Standard/Daylight Time,D/M/Y,10.0.0.1,2001\n"
                       "SEP0011223344A2,Cisco 8851,Paris_DP,Paris,Romance Standard/Daylight Time,M/D/Y,10.0.0.1,2002\n"
                       "SEP0011223344A3,Cisco 8851,Oslo_DP,Oslo,,D/M/Y,,2003\n")
    with pytest.raises(BatRejected) as rejected:
        import_bat(sqlite_db, text)
    assert [(e.row, e.column) for e in rejected.value.errors] == [(3, "Date/Time Group"), (4, "Date/Time Group")]
    assert "another date/time group on row 2" in rejected.value.errors[0].message


def test_t7_bat_import_refuses_a_group_other_than_the_sites(demo_db):
    """T-7: a file may not silently change the clock of a pool the site already holds."""
    text = BAT_HEAD + "SEP0011223344A1,Cisco 8851,HQ_DP,HQ Pacific,Pacific Standard/Daylight Time,M/D/Y,,2001\n"
    with pytest.raises(BatRejected) as rejected:
        import_bat(demo_db, text)
    assert "has the date/time group HQ Eastern (Eastern Standard/Daylight Time" in rejected.value.errors[0].message


def test_t7_the_cli_lists_and_sets_a_pools_group(sqlite_url):
    """T-7: ``device-pools list`` shows each pool's group ('(default)' where none is held);
    ``device-pools set`` gives one, which the pool's phones' files then carry; a bad group is one
    line and exit status 1."""
    runner = CliRunner()

    def run(*args):
        return runner.invoke(main, ["--database", sqlite_url, *args], catch_exceptions=False)

    assert run("init-db", "--demo").exit_code == 0
    listed = run("device-pools", "list").output
    assert "HQ Eastern: Eastern Standard/Daylight Time, M/D/YA, 192.0.2.123, ntp.hq.example.com" in listed
    assert "CMLocal (default): Greenwich Standard Time" in listed
    done = run("device-pools", "set", "Default", "--group", "Paris", "--time-zone", "Romance Standard/Daylight Time",
               "--olson", "Europe/Paris", "--date-template", "D/M/YY", "--ntp", "192.0.2.200", "--ntp", "192.0.2.201")
    assert done.exit_code == 0 and "NTP 192.0.2.200, 192.0.2.201" in done.output
    db = Database(sqlite_url)
    try:
        setting = rendered(db, "SEP001122330010").find("devicePool/dateTimeSetting")  # carol's, pool Default
        assert (setting.findtext("name"), setting.findtext("dateTemplate")) == ("Paris", "D/M/YY")
    finally:
        db.dispose()
    bad = run("device-pools", "set", "Default", "--group", "X", "--time-zone", "Z", "--date-template", "MM-DD")
    assert bad.exit_code == 1 and "is not a date template" in bad.output


def test_t7_a_site_without_groups_exports_only_cucms_columns(demo_db):
    """T-7: the five date/time columns are this product's, not CUCM's: an All Details export of a
    site that holds no group has none of them (CUCM's own import would not know them)."""
    with demo_db.session() as s:
        s.delete(s.exec(select(DevicePool)).one())
    header = export_text(demo_db).splitlines()[0].split(",")
    assert header[header.index("Module 3") + 1] == "Directory Number 1"
    assert not set(header) & {t for t, _ in datetime_group.BAT_COLUMNS}
