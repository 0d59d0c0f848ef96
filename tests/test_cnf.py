"""Rendered config files (T-1, T-5): golden files for every demo phone, the
project's RELAX NG schema, and the element paths of the public samples."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from lxml import etree
from sqlmodel import select

from models.rules.catalog import default_catalog
from models.services.demo import load_demo
from models.services.provisioning import default_loads, device_config
from models.storage.database import Database
from models.storage.settings import save_settings
from models.tables.devices import Device
from models.tables.settings import DeviceDefaults
from phoneservice.configfiles.cnf import ServerInfo, render_default, render_device

GOLDEN = Path(__file__).parent / "golden"
SCHEMA = etree.RelaxNG(etree.parse(str(Path(__file__).parents[1] / "phoneservice" / "configfiles" / "schemas" / "cnf.rng")))
SERVER = ServerInfo(services_base="http://192.0.2.10:8080", callmanager_host="cucm.example.org")
CAT = default_catalog()

# Element paths seen in the public samples docs/protocol.md names (usecallmanagernz/tftpboot
# SEPMAC.cnf.xml, wazo-provd-plugins Cisco SIP/SCCP templates).
SIP_PATHS = [
    "devicePool/callManagerGroup/members/member/callManager/ports/sipPort",
    "devicePool/callManagerGroup/members/member/callManager/processNodeName",
    "sipProfile/sipLines/line/featureID",
    "sipProfile/sipLines/line/name",
    "sipProfile/sipLines/line/displayName",
    "sipProfile/sipLines/line/authName",
    "sipProfile/sipLines/line/sharedLine",
    "sipProfile/sipLines/line/proxy",
    "loadInformation",
    "vendorConfig",
    "deviceSecurityMode",
    "transportLayerProtocol",
    "servicesURL",
    "userLocale/name",
]
SCCP_PATHS = ["devicePool/callManagerGroup/members/member/callManager/ports/ethernetPhonePort", "loadInformation",
              "deviceSecurityMode", "servicesURL"]


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    db = Database(f"sqlite:///{tmp_path_factory.mktemp('cnf') / 'demo.db'}")
    db.create_all()
    with db.session() as s:
        load_demo(s)
    yield db
    db.dispose()


def rendered(db, name):
    with db.session() as s:
        return render_device(device_config(s, name, CAT), SERVER)


def demo_names(db):
    with db.session() as s:
        return [d.name for d in s.exec(select(Device).order_by(Device.name))]


def test_t1_every_demo_phone_matches_its_golden_file_and_the_schema(demo):
    names = demo_names(demo)
    assert len(names) >= 20
    for name in names:
        data = rendered(demo, name)
        assert data.startswith(b'<?xml version="1.0" encoding="UTF-8"?>')
        doc = etree.fromstring(data)
        assert SCHEMA.validate(doc), (name, SCHEMA.error_log.last_error)
        golden = GOLDEN / f"{name}.cnf.xml"
        if os.environ.get("PM_UPDATE_GOLDEN") == "1":
            golden.write_bytes(data)
        assert golden.read_bytes() == data, f"{name} differs from {golden} (PM_UPDATE_GOLDEN=1 rewrites)"


def test_t1_public_sample_paths_present(demo):
    sip = etree.fromstring(rendered(demo, "SEP001122330002"))
    for path in SIP_PATHS:
        assert sip.find(path) is not None, path
    sccp = etree.fromstring(rendered(demo, "SEP001122330001"))
    for path in SCCP_PATHS:
        assert sccp.find(path) is not None, path
    assert sccp.find("sipProfile") is None  # SCCP phones get their lines at registration


def test_lines_speed_dials_blf_and_kem(demo):
    doc = etree.fromstring(rendered(demo, "SEP001122330002"))  # bob's 8851: 2 lines, a BLF, a BEKEM
    lines = doc.findall("sipProfile/sipLines/line")
    assert [(l.get("button"), l.findtext("featureID")) for l in lines] == [("1", "9"), ("2", "9"), ("3", "21")]
    assert [l.findtext("name") for l in lines[:2]] == ["1002", "1001"]
    assert lines[1].findtext("sharedLine") == "true"
    assert lines[1].findtext("proxy") == "USECALLMANAGER"
    assert doc.findtext("addOnModules/addOnModule/deviceType") == "BEKEM"
    assert doc.find("addOnModules/addOnModule").get("idx") == "1"
    assert doc.findtext("vendorConfig/lineMode") == "1"


def test_s8_security_mode_and_transport_from_profile(demo):
    """S-8: bob's profile is Authenticated over TLS; with no trust list to give (the default,
    secure_config_files non_secure) his file says Non-Secure over TCP; under ``mapped`` it says
    the profile's own mode and transport."""
    doc = etree.fromstring(rendered(demo, "SEP001122330002"))
    assert (doc.findtext("deviceSecurityMode"), doc.findtext("transportLayerProtocol")) == ("1", "1")
    with demo.session() as s:
        save_settings(s, secure_config_files="mapped")
    try:
        doc = etree.fromstring(rendered(demo, "SEP001122330002"))
        assert (doc.findtext("deviceSecurityMode"), doc.findtext("transportLayerProtocol")) == ("2", "3")
    finally:
        with demo.session() as s:
            save_settings(s, secure_config_files="non_secure")


def test_service_urls_point_here_with_the_device_name(demo):
    doc = etree.fromstring(rendered(demo, "SEP001122330002"))
    assert doc.findtext("servicesURL") == "http://192.0.2.10:8080/screens/?name=SEP001122330002"


def test_t5_load_override_then_model_default_then_catalogue(demo):
    with demo.session() as s:
        assert etree.fromstring(rendered(demo, "SEP001122330002")).findtext("loadInformation") == "sip88xx.14-2-1-0101-26"
        s.merge(DeviceDefaults(model="8851", load="sip88xx.14-3-1-0001-1", onboarding_method="activation_code"))
    assert etree.fromstring(rendered(demo, "SEP001122330002")).findtext("loadInformation") == "sip88xx.14-3-1-0001-1"
    with demo.session() as s:
        bob = s.exec(select(Device).where(Device.name == "SEP001122330002")).one()
        bob.load_override = "sip88xx.12-8-1-0001-455"
        s.add(bob)
    assert etree.fromstring(rendered(demo, "SEP001122330002")).findtext("loadInformation") == "sip88xx.12-8-1-0001-455"
    with demo.session() as s:
        bob = s.exec(select(Device).where(Device.name == "SEP001122330002")).one()
        bob.load_override = None
        s.add(bob)
        s.delete(s.get(DeviceDefaults, "8851"))


def test_t1_xmldefault_one_load_per_model(demo):
    with demo.session() as s:
        data = render_default(default_loads(s, CAT), SERVER, True)
    doc = etree.fromstring(data)
    assert SCHEMA.validate(doc), SCHEMA.error_log.last_error
    e = doc.find("loadInformation684")
    assert e.get("model") == "Cisco 8851" and e.text.startswith("sip88xx.")
    assert doc.find("loadInformation436").get("model") == "Cisco 7965"
    numbers = [el.tag for el in doc if el.tag.startswith("loadInformation")]
    assert len(numbers) == len(set(numbers)) >= 15


def test_m4_text_is_escaped_in_config(demo):
    with demo.session() as s:
        bob = s.exec(select(Device).where(Device.name == "SEP001122330002")).one()
        bob.description = "<b>&\"'é" + "x" * 40
        s.add(bob)
    doc = etree.fromstring(rendered(demo, "SEP001122330002"))
    assert doc.findtext("sipProfile/phoneLabel").startswith("<b>&\"'é")
    assert SCHEMA.validate(doc)
