"""CUCM BAT phone files: both formats in, all or nothing; export and round trip; the CLI."""

from __future__ import annotations

import csv
import io
import time
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlmodel import select

from models.rules import bat_format
from models.rules.catalog import default_catalog
from models.rules.refusals import Refused
from models.services import bat
from models.services.reports import device_public, find_devices
from models.storage.database import Database
from models.tables.devices import Device, KemModule
from models.tables.lines import DirectoryNumber, FeatureButton, LineAppearance
from models.tables.templates import PhoneButtonTemplate, SecurityProfile
from models.tables.users import EndUser
from phoneservice.cli import main

DATA = Path(__file__).parent / "data" / "bat"
ALL_DETAILS = (DATA / "all_details.csv").read_bytes()
BAT_BOM = (DATA / "bat_default_bom.csv").read_bytes()
BAD_ROWS = (DATA / "bad_rows.csv").read_bytes()

BAD_ROW_LINES = [
    'row 3, Device Name: "12345" is not a MAC address (12 hexadecimal digits)',
    'row 4, Device Type: unknown device type "Cisco 9999"',
    "row 5, Device Protocol: Cisco 8851 does not run SCCP",
    "row 6, Device Name: SEP0A0B0C0D0F01 is also on row 2",
    "row 7, Device Name: a phone named SEP001122330001 already exists",
    'row 8, Directory Number 1: "12a4" is not a directory number (up to 24 digits, * or #, after an optional + or \\+)',
    "row 9, Module 1: a Cisco 8851 takes no Cisco 7914",
    "row 10, Directory Number 5: 5 lines do not fit: a Cisco 7841 has 4 line keys and no KEM",
    'row 11, Phone Button Template: "Standard 7965 SCCP" is the standard template of another phone type '
    "(this row is a Cisco 8841 SIP)",
    'row 12, Extension Mobility: "maybe" is not t or f',
    'row 13, Device Name: "XYZ" is not a MAC address (12 hexadecimal digits); '
    'Device Type: unknown device type "Cisco 9999"',
    'row 17, Directory Number 1: "ABC" is not a directory number (up to 24 digits, * or #, after an optional + or \\+)',
]


@pytest.fixture
def db(db_url):
    database = Database(db_url)
    database.create_all()
    yield database
    database.dispose()


def _counts(db: Database) -> dict[str, int]:
    with db.read_session() as session:
        return {table.__name__: len(session.exec(select(table)).all())
                for table in (Device, EndUser, DirectoryNumber, LineAppearance, KemModule, PhoneButtonTemplate,
                              SecurityProfile, FeatureButton)}


def _view(db: Database, name: str):
    with db.read_session() as session:
        return device_public(session, session.exec(select(Device).where(Device.name == name)).one())


def _site(db: Database) -> list[dict]:
    """What a BAT file carries, device by device, to compare two sites."""
    keep = {"name", "model", "protocol", "description", "device_pool", "calling_search_space", "location",
            "common_profile", "sip_profile", "user_locale", "network_locale", "em_enabled", "cti_controlled",
            "load_override", "owner", "button_template", "security_profile", "kems", "lines"}
    with db.read_session() as session:
        return [device_public(session, d).model_dump(include=keep) for d in find_devices(session, limit=100_000)]


# --- the file -----------------------------------------------------------------------

def test_the_format_is_told_by_the_header():
    catalog = default_catalog()
    assert bat_format.parse(bat_format.decode(ALL_DETAILS), catalog).format == bat.ALL_DETAILS
    assert bat_format.parse(bat_format.decode(BAT_BOM), catalog, model="7841").format == bat.BAT
    with pytest.raises(Refused, match='no "Device Name" column .* no "MAC ADDRESS" column'):
        bat_format.parse("Name,Number\nx,1\n", catalog)
    with pytest.raises(Refused, match="names no device type"):
        bat_format.parse(bat_format.decode(BAT_BOM), catalog)
    with pytest.raises(Refused, match="--model is for a file with no Device Type column"):
        bat_format.parse(bat_format.decode(ALL_DETAILS), catalog, model="8851")
    with pytest.raises(Refused, match="the column appears twice"):
        bat_format.parse("Device Name,Device Type,directory number 1,DIRECTORY  NUMBER 1\n", catalog)
    with pytest.raises(Refused, match="the file is empty"):
        bat_format.parse("", catalog)


def test_utf8_with_or_without_bom_reads_the_same():
    catalog = default_catalog()
    without = bat_format.parse(bat_format.decode(BAT_BOM.removeprefix(b"\xef\xbb\xbf")), catalog, model="7841")
    with_bom = bat_format.parse(bat_format.decode(BAT_BOM), catalog, model="7841")
    assert with_bom.phones == without.phones and with_bom.phones[0].name == "SEP1231123245AB"
    assert bat_format.parse(bat_format.decode("\ufeff" + BAT_BOM.decode("utf-8-sig")), catalog,
                            model="7841").phones == without.phones
    with pytest.raises(Refused, match="not UTF-8"):
        bat_format.decode("MAC ADDRESS,DESCRIPTION\r\n001122334455,caf\xe9\r\n".encode("latin-1"))


def test_unknown_columns_are_listed_once_per_family():
    parsed = bat_format.parse(bat_format.decode(ALL_DETAILS), default_catalog())
    assert "Forward All Destination N" in parsed.ignored_columns
    assert "Line Network Hold MOH Audio Source N" in parsed.ignored_columns  # CUCM's double space collapsed
    assert {"AAR CSS", "Softkey Template", "User ID 1", "Module 1 Load Name"} <= set(parsed.ignored_columns)
    assert not {"Directory Number N", "Display N", "Module 1", "Device Type"} & set(parsed.ignored_columns)


def test_row_numbers_are_the_files_records_header_first():
    parsed = bat_format.parse(bat_format.decode(BAD_ROWS), default_catalog())
    assert sorted({e.row for e in parsed.errors}) == [3, 4, 5, 6, 8, 9, 10, 11, 12, 13, 17]
    assert [p.row for p in parsed.phones] == [2, 7, 15, 16]  # row 14 is blank; row 16 spans two lines


@pytest.mark.parametrize("cells,message", [
    ({"Device Name": ""}, "Device Name: missing"),
    ({"Device Type": ""}, "Device Type: missing"),
    ({"Module 1": "BEKEM 36-Button Line Expansion Module", "Module 2": "Cisco 8800 Audio Key Expansion Module"},
     "Module 2: Cisco 8800 Audio Key Expansion Module cannot be mixed with Cisco 8800 Key Expansion Module "
     "on one phone"),
    ({"Module 1": "Cisco 8800 Key Expansion Module", "Module 2": "Cisco 8800 Key Expansion Module",
      "Module 3": "Cisco 8800 Key Expansion Module"},
     "Module 3: a Cisco 8851 takes at most 2 KEMs of type Cisco 8800 Key Expansion Module"),
    ({"Module 1": "Sidecar 3000"}, 'Module 1: unknown KEM model "Sidecar 3000"'),
    ({"Route Partition 2": "Internal_PT"}, "Route Partition 2: a route partition with no directory number"),
    ({"Directory Number 2": "4001"}, "Directory Number 2: 4001 (no partition) is already on Directory Number 1 of this phone"),
    ({"Maximum Number of Calls 1": "0"}, 'Maximum Number of Calls 1: "0" is not a whole number from 1 to 200'),
    ({"Owner User ID": "u" * 129}, "Owner User ID: longer than 128 characters"),
    ({"Device Protocol": "H323"}, "Device Protocol: Cisco 8851 does not run H323"),
])
def test_each_rule_names_its_row_and_column(cells, message):
    header = ["Device Name", "Device Type", "Device Protocol", "Owner User ID", "Module 1", "Module 2", "Module 3",
              "Directory Number 1", "Route Partition 1", "Maximum Number of Calls 1", "Directory Number 2",
              "Route Partition 2"]
    row = {"Device Name": "SEP00000000AA01", "Device Type": "Cisco 8851", "Device Protocol": "SIP",
           "Directory Number 1": "4001", **cells}
    text = ",".join(header) + "\n" + ",".join(row.get(h, "") for h in header) + "\n"
    errors = bat_format.parse(text, default_catalog()).errors
    assert [str(e) for e in errors] == [f"row 2, {message}"]


def test_lines_beyond_the_keys_fit_on_the_kem():
    header = "Device Name,Device Type,Module 1," + ",".join(f"Directory Number {n}" for n in range(1, 21))
    fits = "SEP00000000AA01,Cisco 7965,7914 14-Button Line Expansion Module," + ",".join(str(5000 + n) for n in range(20))
    parsed = bat_format.parse(f"{header}\n{fits}\n", default_catalog())
    assert not parsed.errors and len(parsed.phones[0].lines) == 20
    too_many = "SEP00000000AA01,Cisco 7965,," + ",".join(str(5000 + n) for n in range(20))
    errors = bat_format.parse(f"{header}\n{too_many}\n", default_catalog()).errors
    assert [str(e) for e in errors] == [
        "row 2, Directory Number 7: 20 lines do not fit: a Cisco 7965 has 6 line keys and no KEM"]


def test_more_values_than_columns_is_a_bad_row():
    errors = bat_format.parse("Device Name,Device Type\nSEP00000000AA01,Cisco 8851,,surprise\n", default_catalog()).errors
    assert [str(e) for e in errors] == ["row 2: more values than the header has columns"]


# --- import ---------------------------------------------------------------------------

def test_all_details_file_imports_phones_lines_owners_templates_profiles_and_kems(db):
    summary = bat.import_bat(db, ALL_DETAILS)
    assert (summary.format, summary.devices, summary.users_created) == (bat.ALL_DETAILS, 5, 3)
    assert summary.dns_created == 11 and summary.shared_lines == 2  # 2001 on two phones, 2100 on three
    assert "Forward All Destination N" in summary.ignored_columns
    assert str(summary).startswith("imported 5 phones (Export Phones – All Details format); created: 3 users, "
                                   "11 directory numbers (2 shared lines in the file)")

    reception = _view(db, "SEP0A0B0C0D0E01")
    assert (reception.model, reception.protocol, reception.owner) == ("7965", "SCCP", "anna")
    assert (reception.button_template, reception.kems) == ("Custom 7965 SCCP", ["7914"])
    assert (reception.device_pool, reception.calling_search_space, reception.location) == ("HQ_DP", "Internal_CSS", "HQ")
    assert reception.em_enabled and reception.load_override == "SCCP45.9-4-2SR3-1S"
    assert reception.user_locale == "English_United_States" and reception.network_locale == "United_States"
    assert [l["directory_number"] for l in reception.lines] == ["2001", "2100", *map(str, range(2002, 2008))]
    assert reception.lines[1] == {"position": 2, "directory_number": "2100", "partition": "Internal_PT",
                                  "label": "Sales", "display_name": "Sales", "shared": True, "intercom": False}
    bruno = _view(db, "SEP0A0B0C0D0E03")
    assert bruno.kems == ["BEKEM", "BEKEM"] and bruno.cti_controlled and bruno.user_locale == "German_Germany"
    assert bruno.lines[0]["display_name"] == "Zoë Müller"
    lobby = _view(db, "SEP0A0B0C0D0E05")
    assert lobby.owner is None and lobby.button_template == "Standard 7945 SCCP"  # empty cell: the standard one
    with db.read_session() as session:
        templates = {t.name: (t.kind, t.model, t.protocol) for t in session.exec(select(PhoneButtonTemplate))}
        assert templates == {"Custom 7965 SCCP": ("custom", "7965", "SCCP"), "Standard 8851 SIP": ("standard", "8851", "SIP"),
                             "Standard 8861 SIP": ("standard", "8861", "SIP"), "Standard 7945 SCCP": ("standard", "7945", "SCCP"),
                             "Universal Device Template Button layout": ("universal", None, None)}
        dn = session.exec(select(DirectoryNumber).where(DirectoryNumber.pattern == "2001")).one()
        assert (dn.description, dn.alerting_name) == ("Anna's line", "Anna Berg")
        chen_line = session.exec(select(LineAppearance).join(Device).where(Device.name == "SEP0A0B0C0D0E04")).one()
        assert chen_line.settings == {"max_calls": 6, "busy_trigger": 3}
        ascii_line = session.exec(select(LineAppearance).where(LineAppearance.display_name == "Zoë Müller")).one()
        assert ascii_line.ascii_display_name == "Zoe Mueller"
        speed = session.exec(select(FeatureButton).order_by(FeatureButton.id)).all()
        assert [(f.feature, f.target, f.label) for f in speed][:2] == [("speed_dial", "911", "Emergency"),
                                                                      ("speed_dial", "2999", "Lobby")]


def test_shared_line_is_one_dn_on_several_phones(db):
    bat.import_bat(db, ALL_DETAILS)
    with db.read_session() as session:
        dn = session.exec(select(DirectoryNumber).where(DirectoryNumber.pattern == "2100")).one()
        on = session.exec(select(Device.name).join(LineAppearance).where(LineAppearance.dn_id == dn.id)).all()
    assert sorted(on) == ["SEP0A0B0C0D0E01", "SEP0A0B0C0D0E02", "SEP0A0B0C0D0E03"]


def test_owners_are_created_without_pin_with_line_1_as_primary_extension(db):
    bat.import_bat(db, ALL_DETAILS)
    with db.read_session() as session:
        anna = session.exec(select(EndUser).where(EndUser.user_id == "anna")).one()
        assert anna.pin_hash is None
        assert session.get(DirectoryNumber, anna.primary_extension_id).pattern == "2001"


def test_existing_owner_dn_template_and_profile_are_used_as_they_are(demo_db):
    text = ("Device Name,Device Type,Device Protocol,Owner User ID,Phone Button Template,Device Security Profile,"
            "Directory Number 1,Route Partition 1,Alerting Name 1\n"
            "SEP0A0B0C0D0E77,Cisco 7965,SCCP,alice,Custom 7965 SCCP,Corp Encrypted TFTP EC SIP,1001,Internal_PT,New name\n")
    before = _counts(demo_db)
    summary = bat.import_bat(demo_db, text)
    assert (summary.users_created, summary.dns_created, summary.templates_created,
            summary.security_profiles_created) == (0, 0, 0, 0)
    after = _counts(demo_db)
    assert after["Device"] == before["Device"] + 1 and after["EndUser"] == before["EndUser"]
    with demo_db.read_session() as session:
        profile = session.exec(select(SecurityProfile).where(SecurityProfile.name == "Corp Encrypted TFTP EC SIP")).one()
        assert (profile.tftp_encrypted, profile.key_order) == (True, "ec_preferred_rsa_backup")  # untouched
        dn = session.exec(select(DirectoryNumber).where(DirectoryNumber.pattern == "1001",
                                                        DirectoryNumber.partition == "Internal_PT")).one()
        assert dn.alerting_name == ""  # an existing DN is left as it is
    assert _view(demo_db, "SEP0A0B0C0D0E77").lines[0]["shared"]


@pytest.mark.parametrize("name,mode,transport", [
    ("Corp Encrypted SIP Profile", "encrypted", "tls"),
    ("Cisco 8851 - Standard SIP Authenticated Profile", "authenticated", "tls"),
    ("Cisco 8851 - Standard SIP Non-Secure Profile", "non_secure", "tcp"),
    ("Cisco 8851 - Non-Encrypted Profile", "non_secure", "tcp"),
    ("Branch phones", "non_secure", "tcp"),
    ("Universal Device Template - Security Profile - Encrypted - Device_TFTP", "encrypted", "tls"),
])
def test_an_unknown_security_profile_is_created_as_its_name_says(sqlite_url, name, mode, transport):
    db = Database(sqlite_url)
    db.create_all()
    bat.import_bat(db, f"Device Name,Device Type,Device Security Profile\nSEP0A0B0C0D0E01,Cisco 8851,{name}\n")
    with db.read_session() as session:
        profile = session.exec(select(SecurityProfile)).one()
        assert (profile.name, profile.mode, profile.transport) == (name, mode, transport)
        assert profile.tftp_encrypted == name.endswith("Device_TFTP")  # a universal profile is known by its name
    db.dispose()


def test_bat_default_format_takes_model_and_protocol(db):
    with pytest.raises(Refused, match="Cisco 7841 does not run SCCP"):
        bat.import_bat(db, BAT_BOM, model="7841", protocol="SCCP")
    summary = bat.import_bat(db, BAT_BOM, model="Cisco IP Phone 7841", protocol="sip")
    assert (summary.format, summary.devices, summary.users_created, summary.dns_created) == (bat.BAT, 3, 2, 4)
    assert summary.ignored_columns == ["FORWARD BUSY EXTERNAL 1", "FORWARD NO ANSWER EXTERNAL 1", "CALL PICKUP GROUP 1"]
    john = _view(db, "SEP1231123245AB")
    assert (john.model, john.protocol, john.owner, john.location) == ("7841", "SIP", "johns", "Dallas")
    assert [(l["directory_number"], l["label"], l["display_name"], l["shared"]) for l in john.lines] == [
        ("9728437154", "John", "John Smith", False), ("9728437100", "Helpdesk", "Helpdesk", True)]
    assert _view(db, "SEP1231123245AD").owner is None  # MAC spelled 12:31:12:32:45:ad


def test_bad_rows_import_nothing_and_every_bad_row_is_listed(demo_db):
    before = _counts(demo_db)
    with pytest.raises(bat.BatRejected) as caught:
        bat.import_bat(demo_db, BAD_ROWS)
    assert caught.value.lines() == BAD_ROW_LINES
    assert caught.value.message == "12 bad rows in the file: nothing was imported"
    assert all(e.column for e in caught.value.errors)
    assert _counts(demo_db) == before


def test_a_fault_while_applying_rolls_everything_back(db, monkeypatch):
    """C-12 style: one transaction; a failure on the last phone leaves nothing behind."""
    real = bat._create
    calls = []

    def failing(session, phone, catalog):
        calls.append(phone.name)
        if len(calls) == 5:
            raise Refused("bat_conflict", "disk on fire")
        return real(session, phone, catalog)

    monkeypatch.setattr(bat, "_create", failing)
    with pytest.raises(Refused, match="disk on fire"):
        bat.import_bat(db, ALL_DETAILS)
    assert set(_counts(db).values()) == {0}


def test_c2_an_intercom_dn_stays_an_intercom_dn(demo_db):
    text = ("Device Name,Device Type,Directory Number 1,Route Partition 1,Intercom Directory Number 1,"
            "Intercom Route Partition 1\n"
            "SEP0A0B0C0D0E01,Cisco 8851,3001,Intercom_PT,,\n"
            "SEP0A0B0C0D0E02,Cisco 8851,4001,,4002,Intercom_PT\n"
            "SEP0A0B0C0D0E03,Cisco 8851,4002,Intercom_PT,,\n")
    with pytest.raises(bat.BatRejected) as caught:
        bat.import_bat(demo_db, text)
    assert caught.value.lines() == [
        "row 2, Directory Number 1: 3001 in Intercom_PT is an intercom directory number already",
        "row 4, Directory Number 1: 4002 in Intercom_PT is an intercom line on row 3"]


def test_a_phone_added_meanwhile_is_a_clear_refusal(db, monkeypatch):
    from sqlalchemy.exc import IntegrityError

    def clash(session, phone, catalog):
        raise IntegrityError("INSERT INTO device", {}, Exception("duplicate key"))

    monkeypatch.setattr(bat, "_create", clash)
    with pytest.raises(Refused, match="the site changed while the file was imported: nothing was imported"):
        bat.import_bat(db, ALL_DETAILS)
    assert set(_counts(db).values()) == {0}


def test_dry_run_checks_and_changes_nothing(db):
    summary = bat.import_bat(db, ALL_DETAILS, dry_run=True)
    assert summary.devices == 5 and summary.dry_run and str(summary).startswith("would import 5 phones")
    assert set(_counts(db).values()) == {0}
    assert bat.import_bat(db, ALL_DETAILS).devices == 5


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_bar_only_on_a_terminal(sqlite_url, tmp_path):
    terminal, pipe = _Terminal(), io.StringIO()
    for url, stream in ((sqlite_url, terminal), (f"sqlite:///{tmp_path / 'other.db'}", pipe)):
        db = Database(url)
        db.create_all()
        bat.import_bat(db, ALL_DETAILS, progress=stream)
        db.dispose()
    assert "import: 100%" in terminal.getvalue() and "5/5" in terminal.getvalue()
    assert pipe.getvalue() == ""


def test_on_progress_counts_the_phones_created_and_the_cli_bar_still_works(sqlite_url):
    """E-4: one loop reports to the CLI's bar and to a door's callback: (0, total) once the rows passed, then each."""
    db, told, terminal = Database(sqlite_url), [], _Terminal()
    db.create_all()
    bat.import_bat(db, ALL_DETAILS, progress=terminal, on_progress=lambda done, total: told.append((done, total)))
    db.dispose()
    assert told == [(n, 5) for n in range(6)] and "5/5" in terminal.getvalue()


# --- export and the round trip ------------------------------------------------------------

def test_export_all_details_then_import_into_an_empty_site_gives_the_same_site(demo_db, tmp_path):
    exported = bat.export_text(demo_db)
    assert exported.startswith("Device Name,Description,Device Pool,Phone Button Template,CSS,")
    header = next(csv.reader(io.StringIO(exported)))
    assert {"Device Type", "Owner User ID", "Device Security Profile", "Device Protocol", "Module 1",
            "Directory Number 7", "Route Partition 7", "Line Text Label 7", "Display 7",
            "Intercom Directory Number 1"} <= set(header)
    empty = Database(f"sqlite:///{tmp_path / 'copy.db'}")
    empty.create_all()
    summary = bat.import_bat(empty, exported)
    assert summary.ignored_columns == [] and summary.devices == len(_site(demo_db))
    assert _site(empty) == _site(demo_db)
    assert bat.export_text(empty) == exported
    alice = _view(empty, "SEP001122330001")
    assert alice.kems == ["7914"] and alice.lines[-1]["intercom"] and alice.security_profile.startswith("Cisco 7965")
    empty.dispose()


def test_round_trip_of_an_imported_file(db, tmp_path):
    bat.import_bat(db, ALL_DETAILS)
    copy = Database(f"sqlite:///{tmp_path / 'copy.db'}")
    copy.create_all()
    bat.import_bat(copy, bat.export_text(db))
    assert _site(copy) == _site(db)
    copy.dispose()


def test_export_in_the_bat_phone_format_and_back(db, tmp_path):
    bat.import_bat(db, BAT_BOM, model="7841", protocol="SIP")
    exported = bat.export_text(db, fmt=bat.BAT)
    assert exported.splitlines()[0] == ("MAC ADDRESS,DESCRIPTION,LOCATION,USER ID,DIRECTORY NUMBER 1,DISPLAY 1,"
                                        "LINE TEXT LABEL 1,DIRECTORY NUMBER 2,DISPLAY 2,LINE TEXT LABEL 2,"
                                        "SPEED DIAL NUMBER 1,SPEED DIAL LABEL 1")
    assert exported.splitlines()[1] == ("1231123245AB,Dallas desk 1,Dallas,johns,9728437154,John Smith,John,"
                                        "9728437100,Helpdesk,Helpdesk,1230000000,Operator")
    copy = Database(f"sqlite:///{tmp_path / 'copy.db'}")
    copy.create_all()
    bat.import_bat(copy, exported, model="7841", protocol="SIP")
    assert _site(copy) == _site(db)
    copy.dispose()


def test_bat_export_keeps_partitions_in_extra_columns_at_the_end(demo_db):
    lines = bat.export_text(demo_db, fmt=bat.BAT).splitlines()
    assert lines[0].startswith("MAC ADDRESS,DESCRIPTION,LOCATION,USER ID,DIRECTORY NUMBER 1,DISPLAY 1,LINE TEXT LABEL 1,")
    assert lines[0].endswith(",ROUTE PARTITION 6,ROUTE PARTITION 7")
    assert "INTERCOM" not in lines[0] and "Module" not in lines[0]


def test_unknown_export_format_is_refused(db):
    with pytest.raises(Refused, match='unknown BAT format "xml"'):
        bat.export_text(db, fmt="xml")


# --- a large file ---------------------------------------------------------------------------

def big_all_details(count: int) -> str:
    """``count`` phones of several models, two or three lines each, every fifth sharing its neighbour's line 1."""
    header = ["Device Name", "Description", "Device Pool", "Phone Button Template", "CSS", "Location", "Module 1",
              "Device Type", "Owner User ID", "Device Security Profile", "Device Protocol", "Softkey Template"]
    for n in (1, 2, 3):
        header += [f"Directory Number {n}", f"Route Partition {n}", f"Line Text Label {n}", f"Display {n}",
                   f"Forward All Destination {n}"]
    models = [("Cisco 8851", "SIP", "Cisco 8800 Key Expansion Module"), ("Cisco 8841", "SIP", ""),
              ("Cisco 7841", "SIP", ""), ("Cisco 7965", "SCCP", "7914 14-Button Line Expansion Module")]
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(header)
    for i in range(count):
        model, protocol, kem = models[i % len(models)]
        first = 100000 + (i - 1 if i % 5 == 4 else i)
        record = [f"SEP{0xB0000000000 + i:012X}", f"Phone {i}", f"DP_{i % 7}", "", "Internal_CSS", "Hub_None", kem,
                  model, f"user{i // 2 if i % 5 else i}", "Corp Encrypted SIP" if i % 3 == 0 else "", protocol, "Standard User"]
        for n, dn in enumerate((first, 200000 + i, 300000 + i)[: 2 + i % 2], 1):
            record += [str(dn), "Internal_PT", f"L{n} {i}", f"User {i}", ""]
        writer.writerow(record + [""] * (len(header) - len(record)))
    return out.getvalue()


def test_a_1000_phone_file_imports_in_reasonable_time(db, capsys):
    text = big_all_details(1000)
    started = time.perf_counter()
    summary = bat.import_bat(db, text)
    elapsed = time.perf_counter() - started
    with capsys.disabled():
        print(f"\n1000-phone All Details import on {db.dialect}: {elapsed:.1f} s")
    assert summary.devices == 1000 and summary.shared_lines == 200
    assert _counts(db)["Device"] == 1000
    assert elapsed < 60


def test_a_1000_phone_file_with_one_bad_row_imports_nothing(db):
    lines = big_all_details(1000).split("\r\n")
    lines[700] = lines[700].replace("Cisco ", "Cisco X", 1)
    with pytest.raises(bat.BatRejected) as caught:
        bat.import_bat(db, "\r\n".join(lines))
    assert caught.value.lines() == ['row 701, Device Type: unknown device type "Cisco X7965"']
    assert _counts(db)["Device"] == 0


# --- the CLI ---------------------------------------------------------------------------------

@pytest.fixture
def cli(sqlite_url, tmp_path):
    runner = CliRunner()

    def run(*args):
        return runner.invoke(main, ["--database", sqlite_url, *args], catch_exceptions=False)

    assert run("init-db").exit_code == 0
    return run


def _write(tmp_path: Path, name: str, data: bytes) -> str:
    path = tmp_path / name
    path.write_bytes(data)
    return str(path)


def test_cli_import_prints_one_summary_line(cli, tmp_path):
    result = cli("import-bat", _write(tmp_path, "phones.csv", ALL_DETAILS))
    assert result.exit_code == 0, result.output
    out = result.stdout.splitlines()
    assert out[0].startswith("imported 5 phones (Export Phones – All Details format); created: 3 users")
    assert out[1].startswith("ignored columns: AAR CSS, Media Resource Group List,")
    assert result.stderr == ""  # no progress bar off a terminal
    assert "SEP0A0B0C0D0E03" in cli("devices").output


def test_cli_bad_rows_one_line_each_on_stderr_and_exit_1(cli, tmp_path):
    cli("import-bat", _write(tmp_path, "first.csv", b"Device Name,Device Type\nSEP001122330001,Cisco 7965\n"))
    result = cli("import-bat", _write(tmp_path, "bad.csv", BAD_ROWS))
    assert result.exit_code == 1
    assert result.stdout == ""
    assert result.stderr.splitlines() == BAD_ROW_LINES + ["error: 12 bad rows in the file: nothing was imported"]
    assert "SEP0A0B0C0D0F01" not in cli("devices").output


def test_cli_bat_format_needs_model(cli, tmp_path):
    path = _write(tmp_path, "bat.csv", BAT_BOM)
    result = cli("import-bat", path)
    assert result.exit_code == 1 and "names no device type" in result.stderr and "Traceback" not in result.output
    result = cli("import-bat", path, "--model", "7841", "--protocol", "SIP", "--dry-run", "--quiet")
    assert result.exit_code == 0 and result.stdout.startswith("would import 3 phones (BAT phone format)")
    assert "SEP1231123245AB" not in cli("devices").output
    assert cli("import-bat", path, "--model", "7841").exit_code == 0
    assert "SEP1231123245AB" in cli("devices").output


def test_cli_export_to_stdout_and_to_a_file(cli, tmp_path):
    cli("import-bat", _write(tmp_path, "phones.csv", ALL_DETAILS))
    result = cli("export-bat")
    assert result.exit_code == 0 and result.stdout.startswith("Device Name,Description,")
    assert result.stdout.count("SEP0A0B0C0D0E0") == 5
    target = tmp_path / "out.csv"
    result = cli("export-bat", "--format", "bat", "-o", str(target))
    assert result.exit_code == 0 and "exported 5 phones" in result.stderr
    assert "has no device type" in result.stderr  # what the BAT phone format cannot carry
    assert target.read_text(encoding="utf-8").startswith("MAC ADDRESS,DESCRIPTION,LOCATION,USER ID,")
