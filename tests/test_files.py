"""The file resolver behind TFTP and HTTP (T-1, T-3..T-5) and auto-registration (T-4)."""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor

import pytest
from lxml import etree
from sqlmodel import select

from models.rules.catalog import default_catalog
from models.storage.settings import save_settings
from models.tables.devices import Device
from models.tables.lines import DirectoryNumber
from phoneservice.configfiles.cnf import ServerInfo
from phoneservice.configfiles.files import ConfigFiles
from phoneservice.observe import Metrics


@pytest.fixture
def files(demo_db, tmp_path):
    loads, licenses = tmp_path / "loads", tmp_path / "licenses"
    loads.mkdir()
    licenses.mkdir()
    (loads / "sip88xx.14-2-1-0101-26.loads").write_bytes(b"LOADS")
    (licenses / "00AA11BB22CC.lic").write_bytes(b"E2M")
    (licenses / "00AA11BB22CC_M2E.lic").write_bytes(b"M2E")
    (tmp_path / "secret.txt").write_bytes(b"SECRET")
    os.symlink(tmp_path / "secret.txt", loads / "escape.txt")
    return ConfigFiles(demo_db, default_catalog(), ServerInfo(), loads, licenses, Metrics())


def test_t1_known_device_any_case(files):
    upper = files.resolve("SEP001122330002.cnf.xml")
    assert etree.fromstring(upper).findtext("sipProfile/sipLines/line/name") == "1002"
    assert files.resolve("sep001122330002.CNF.XML") == upper


def test_t1_security_files_missing_at_once(files):
    for name in ("CTLSEP001122330002.tlv", "ITLSEP001122330002.tlv", "ITLFile.tlv"):
        assert files.is_missing_fast(name)
        assert files.resolve(name) is None


def test_t1_xmldefault(files):
    assert etree.fromstring(files.resolve("XMLDefault.cnf.xml")).tag == "Default"


@pytest.mark.parametrize("name", ["../etc/passwd", "/etc/passwd", "loads/../../x", "a\x00b", "..", "C:/x", "a\\..\\b",
                                  "x" * 300, ""])
def test_t2_names_that_leave_the_folder_refused(files, name):
    with pytest.raises(PermissionError):
        files.resolve(name)


def test_t2_symlink_out_of_the_folder_refused(files):
    with pytest.raises(PermissionError):
        files.resolve("escape.txt")


def test_t5_loads_and_licenses_from_their_folders(files):
    assert files.resolve("sip88xx.14-2-1-0101-26.loads") == b"LOADS"
    assert files.resolve("nothing-here.loads") is None
    assert files.resolve("00aa11bb22cc.lic") == b"E2M"
    assert files.resolve("00AA11BB22CC_m2e.lic") == b"M2E"
    assert files.resolve("00AA11BB22CD.lic") is None  # F-5: never another MAC's license


def test_cache_never_stale(files, demo_db):
    before = files.resolve("SEP001122330002.cnf.xml")
    assert files.resolve("SEP001122330002.cnf.xml") is before  # cached under the same stamp
    with demo_db.session() as s:
        bob = s.exec(select(Device).where(Device.name == "SEP001122330002")).one()
        bob.load_override = "sip88xx.12-8-1-0001-455"
        s.add(bob)
    after = files.resolve("SEP001122330002.cnf.xml")
    assert b"sip88xx.12-8-1-0001-455" in after


def test_t4_unknown_phone_auto_registers_with_next_free_dn(files, demo_db):
    data = files.resolve("SEPAABBCCDDEE01.cnf.xml")
    doc = etree.fromstring(data)
    assert doc.findtext("sipProfile/sipLines/line/name") == "9001"  # 9000 is the demo's temporary phone
    with demo_db.session() as s:
        device = s.exec(select(Device).where(Device.name == "SEPAABBCCDDEE01")).one()
        assert device.auto_registered and device.device_template == "Sample Universal Device Template"
    assert files.resolve("SEPAABBCCDDEE01.cnf.xml") == data or b"9001" in files.resolve("SEPAABBCCDDEE01.cnf.xml")


def test_t4_disabled_unknown_phone_gets_nothing(files, demo_db):
    with demo_db.session() as s:
        save_settings(s, autoreg_enabled=False)
    assert files.resolve("SEPAABBCCDDEE02.cnf.xml") is None


def test_t4_range_exhausted_no_device_and_counted(files, demo_db):
    with demo_db.session() as s:
        save_settings(s, autoreg_start_dn="9000", autoreg_end_dn="9001")
    assert files.resolve("SEPAABBCCDDEE03.cnf.xml") is not None  # takes 9001
    assert files.resolve("SEPAABBCCDDEE04.cnf.xml") is None
    with demo_db.session() as s:
        assert s.exec(select(Device).where(Device.name == "SEPAABBCCDDEE04")).first() is None
    assert files.metrics.autoreg.labels("exhausted")._value.get() == 1


def test_t4_fifty_phones_at_once_get_fifty_distinct_dns(files, demo_db):
    macs = [f"AABBCC0000{i:02X}" for i in range(50)]
    with ThreadPoolExecutor(max_workers=16) as pool:
        results = list(pool.map(lambda m: files.resolve(f"SEP{m}.cnf.xml"), macs))
    assert all(r is not None for r in results)
    dns = [etree.fromstring(r).findtext("sipProfile/sipLines/line/name") for r in results]
    assert len(set(dns)) == 50
    with demo_db.session() as s:
        auto = s.exec(select(DirectoryNumber).where(DirectoryNumber.auto_registered == True)).all()  # noqa: E712
        assert len({d.pattern for d in auto}) == len(auto) == 51


def test_cache_sees_a_migration_made_by_another_process(files, demo_db):
    import subprocess
    import sys

    first = files.resolve("SEPAABBCCDDEEFF.cnf.xml")  # an unknown phone auto-registers: cached
    assert etree.fromstring(first).findtext("sipProfile/sipLines/line/name") == "9001"
    out = subprocess.run([sys.executable, "-m", "phoneservice.cli", "--database", demo_db.url, "migrate",
                          "SEP001122330002", "--mac", "AABBCCDDEEFF", "--model", "8861"],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    names = [l.findtext("name") for l in etree.fromstring(files.resolve("SEPAABBCCDDEEFF.cnf.xml")).iter("line")]
    assert names[:2] == ["1002", "1001"]  # bob's lines, never the stale cached file
