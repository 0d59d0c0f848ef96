"""Rendered config files against the public files they follow (issue #16, "Config files").

No Cisco phone is here, so fidelity is checked against files others published; each
test names its sample in its docstring (read, never copied; the element paths and
values below were written out by hand from them). The samples:

- CUCM 12.5: the ``SEP<MAC>.cnf.xml`` CUCM 12.5 wrote for a 7821 (non-secure,
  TCP+UDP), embedded in acaeti/friendly-waldo ``friendly-waldo.rb``, with that
  repository's ``XMLDefault.cnf.xml`` builder;
- usecallmanagernz: usecallmanagernz/tftpboot ``SEPMAC.cnf.xml`` (78xx/88xx SIP
  firmware; its ``addOnModules`` block is commented out but spells the KEM element);
- wazo: wazo-platform/wazo-provd-plugins ``plugins/wazo_cisco_sip/common/templates/base.tpl``
  (BLF buttons) and ``common.py`` (``_SIP_TRANSPORT``);
- sccp_manager: chan-sccp/sccp_manager ``conf/SEP0000000000.cnf.xml_796x_template``
  (79xx SCCP), ``conf/XMLDefault.cnf.xml_template``, and ``install.php`` (its KEM table:
  each 79xx KEM's load) with ``sccpManClasses/xmlinterface.class.php`` (which writes that
  load in ``addOnModule/loadInformation``).

docs/rules.md ("Config file values") records each choice and its sample.
"""

from __future__ import annotations

import dataclasses
import hashlib
import re
from pathlib import Path

import pytest
from lxml import etree
from sqlmodel import select

from models.rules.catalog import default_catalog
from models.services.demo import load_demo
from models.services.provisioning import FeatureConfig, KemConfig, default_loads, device_config
from models.storage.database import Database
from models.storage.stamp import current_version
from models.tables.devices import Device
from phoneservice.configfiles.cnf import STAMP_PLACEHOLDER, ServerInfo, render_default, render_device
from phoneservice.configfiles.files import ConfigFiles
from phoneservice.observe import Metrics

SCHEMA = etree.RelaxNG(etree.parse(str(Path(__file__).parents[1] / "phoneservice" / "configfiles" / "schemas" / "cnf.rng")))
SERVER = ServerInfo(services_base="http://192.0.2.10:8080", callmanager_host="cucm.example.org")
CAT = default_catalog()
UUID_SHAPE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")

# Element paths present both in the CUCM 12.5 7821 file and in what we render for a SIP phone.
CUCM_SIP_PATHS = [
    "fullConfig", "deviceProtocol",
    "devicePool/name", "devicePool/dateTimeSetting/dateTemplate", "devicePool/dateTimeSetting/timeZone",
    "devicePool/callManagerGroup/name", "devicePool/callManagerGroup/tftpDefault",
    "devicePool/callManagerGroup/members/member/callManager/name",
    "devicePool/callManagerGroup/members/member/callManager/ports/ethernetPhonePort",
    "devicePool/callManagerGroup/members/member/callManager/ports/sipPort",
    "devicePool/callManagerGroup/members/member/callManager/ports/securedSipPort",
    "devicePool/callManagerGroup/members/member/callManager/processNodeName",
    "sipProfile/sipProxies/registerWithProxy", "sipProfile/sipCallFeatures/cnfJoinEnabled",
    "sipProfile/sipCallFeatures/rfc2543Hold", "sipProfile/sipStack/remotePartyID", "sipProfile/sipStack/userInfo",
    "sipProfile/phoneLabel",
    "sipProfile/sipLines/line/featureID", "sipProfile/sipLines/line/featureLabel", "sipProfile/sipLines/line/proxy",
    "sipProfile/sipLines/line/port", "sipProfile/sipLines/line/name", "sipProfile/sipLines/line/displayName",
    "sipProfile/sipLines/line/autoAnswer/autoAnswerEnabled", "sipProfile/sipLines/line/callWaiting",
    "sipProfile/sipLines/line/sharedLine", "sipProfile/sipLines/line/messageWaitingLampPolicy",
    "sipProfile/sipLines/line/messagesNumber", "sipProfile/sipLines/line/contact",
    "sipProfile/sipLines/line/maxNumCalls", "sipProfile/sipLines/line/busyTrigger",
    "commonProfile/phonePassword", "commonProfile/backgroundImageAccess", "commonProfile/callLogBlfEnabled",
    "loadInformation", "vendorConfig", "versionStamp", "userLocale/name", "userLocale/langCode", "networkLocale",
    "deviceSecurityMode", "authenticationURL", "directoryURL", "idleURL", "informationURL", "messagesURL",
    "proxyServerURL", "servicesURL", "transportLayerProtocol",
]
# Paths of the usecallmanagernz file (78xx/88xx firmware) we also render for an 88xx with a KEM;
# the addOnModules paths are those of its commented-out block.
USECALLMANAGER_PATHS = [
    "sipProfile/sipLines/line/authName", "sipProfile/sipLines/line/authPassword",
    "sipProfile/sipLines/line/autoAnswer/autoAnswerEnabled",
    "vendorConfig/lineMode",
    "addOnModules/addOnModule/deviceType", "addOnModules/addOnModule/deviceLine",
    "addOnModules/addOnModule/loadInformation",
    "authenticationURL", "transportLayerProtocol", "versionStamp",
]
# Paths of sccp_manager's 796x SCCP template we also render for a 79xx.
SCCP_MANAGER_PATHS = [
    "devicePool/dateTimeSetting/dateTemplate", "devicePool/dateTimeSetting/timeZone",
    "devicePool/callManagerGroup/members/member/callManager/ports/ethernetPhonePort",
    "devicePool/callManagerGroup/members/member/callManager/processNodeName",
    "versionStamp", "loadInformation", "vendorConfig", "userLocale/name", "userLocale/langCode", "networkLocale",
    "commonProfile/phonePassword", "commonProfile/backgroundImageAccess", "commonProfile/callLogBlfEnabled",
    "deviceSecurityMode", "authenticationURL", "idleURL", "informationURL", "messagesURL", "proxyServerURL",
    "servicesURL", "directoryURL",
]
# Paths of the XMLDefault.cnf.xml in acaeti/friendly-waldo we also render.
XMLDEFAULT_PATHS = [
    "autoRegistration", "callManagerGroup/name", "callManagerGroup/tftpDefault",
    "callManagerGroup/members/member/callManager/name",
    "callManagerGroup/members/member/callManager/ports/ethernetPhonePort",
    "callManagerGroup/members/member/callManager/ports/sipPort",
    "callManagerGroup/members/member/callManager/ports/securedSipPort",
    "callManagerGroup/members/member/callManager/processNodeName",
]


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    db = Database(f"sqlite:///{tmp_path_factory.mktemp('samples') / 'demo.db'}")
    db.create_all()
    with db.session() as s:
        load_demo(s)
    yield db
    db.dispose()


def config(db, name, **changes):
    with db.session() as s:
        return dataclasses.replace(device_config(s, name, CAT), **changes)


def doc(data: bytes) -> etree._Element:
    root = etree.fromstring(data)
    assert SCHEMA.validate(root), SCHEMA.error_log.last_error
    return root


def missing(root, paths):
    return [p for p in paths if root.find(p) is None]


def test_sip_78xx_follows_the_cucm_12_5_7821_file(demo):
    """CUCM 12.5's 7821 file (acaeti/friendly-waldo): the same element paths, and its values
    for a non-secure TCP+UDP phone with a line and a speed dial: transportLayerProtocol 4,
    deviceSecurityMode 1, autoAnswer/autoAnswerEnabled 2, callWaiting 3,
    messageWaitingLampPolicy 3, proxy USECALLMANAGER, userInfo None, langCode en_US; the speed
    dial has featureID 2, speedDialIndex 1 and no lineIndex."""
    cfg = config(demo, "SEP001122330011", transport="tcp_udp", security_mode="non_secure",
                 features=(FeatureConfig(2, "speed_dial", "40384", ""),))
    assert cfg.model.startswith("78")
    root = doc(render_device(cfg, SERVER))
    assert missing(root, CUCM_SIP_PATHS) == []
    assert root.findtext("transportLayerProtocol") == "4"
    assert root.findtext("deviceSecurityMode") == "1"
    line, speed_dial = root.findall("sipProfile/sipLines/line")
    assert (line.get("button"), line.get("lineIndex")) == ("1", "1")
    assert [line.findtext(t) for t in ("featureID", "proxy", "port", "callWaiting", "messageWaitingLampPolicy")] \
        == ["9", "USECALLMANAGER", "5060", "3", "3"]
    assert line.findtext("autoAnswer/autoAnswerEnabled") == "2"
    assert root.findtext("sipProfile/sipStack/userInfo") == "None"
    assert root.findtext("userLocale/langCode") == "en_US"
    assert (speed_dial.get("button"), speed_dial.get("lineIndex")) == ("2", None)
    assert [e.tag for e in speed_dial] == ["featureID", "featureLabel", "speedDialNumber", "speedDialIndex"]
    assert (speed_dial.findtext("featureID"), speed_dial.findtext("speedDialIndex")) == ("2", "1")


@pytest.mark.parametrize("transport, value", [("tcp", "1"), ("udp", "2"), ("tls", "3"), ("tcp_udp", "4")])
def test_transport_layer_protocol_values(demo, transport, value):
    """tcp 1, udp 2, tls 3: wazo's ``_SIP_TRANSPORT`` (tcp 1 also usecallmanagernz);
    TCP+UDP 4: CUCM 12.5's 7821 file (it used to be rendered 2, UDP)."""
    root = doc(render_device(config(demo, "SEP001122330011", transport=transport), SERVER))
    assert root.findtext("transportLayerProtocol") == value


def test_speed_dials_are_indexed_among_speed_dials_only(demo):
    """speedDialIndex counts speed dials (CUCM 12.5's only speed dial is index 1); a BLF
    between them takes no index and carries featureOptionMask 1 (wazo's BLF buttons)."""
    cfg = config(demo, "SEP001122330011", features=(
        FeatureConfig(2, "speed_dial", "1003", "Carol"), FeatureConfig(3, "blf", "1004", "Dave"),
        FeatureConfig(4, "speed_dial", "911", "Emergency")))
    buttons = doc(render_device(cfg, SERVER)).findall("sipProfile/sipLines/line")[1:]
    assert [(b.findtext("featureID"), b.findtext("speedDialIndex"), b.findtext("featureOptionMask"))
            for b in buttons] == [("2", "1", None), ("21", None, "1"), ("2", "2", None)]


def test_sip_88xx_with_a_kem_follows_usecallmanagernz_and_wazo(demo):
    """usecallmanagernz/tftpboot SEPMAC.cnf.xml: the same paths (its addOnModule block,
    commented out, spells deviceType, deviceLine, loadInformation), an empty
    authenticationURL as it leaves one unused, autoAnswer holding autoAnswerEnabled; the BLF
    button as wazo's base.tpl writes one: featureID 21, featureLabel, speedDialNumber, then
    featureOptionMask 1."""
    root = doc(render_device(config(demo, "SEP001122330002"), SERVER))  # bob's 8851 with a BEKEM and a BLF
    assert root.findtext("loadInformation").startswith("sip88xx.")
    assert missing(root, USECALLMANAGER_PATHS) == []
    assert root.findtext("addOnModules/addOnModule/deviceType") == "BEKEM"
    assert root.findtext("authenticationURL") == ""
    blf = root.findall("sipProfile/sipLines/line")[2]
    assert [e.tag for e in blf] == ["featureID", "featureLabel", "speedDialNumber", "featureOptionMask"]
    assert (blf.findtext("featureID"), blf.findtext("featureOptionMask"), blf.get("lineIndex")) == ("21", "1", None)


def test_sccp_79xx_follows_sccp_managers_796x_template(demo):
    """chan-sccp/sccp_manager conf/SEP0000000000.cnf.xml_796x_template: the same paths, the
    group's member with only ethernetPhonePort 2000 (no SIP ports) and no sipProfile (SCCP
    phones get their lines at registration)."""
    root = doc(render_device(config(demo, "SEP001122330001"), SERVER))  # alice's 7965
    assert root.findtext("deviceProtocol") == "SCCP"
    assert missing(root, SCCP_MANAGER_PATHS) == []
    ports = root.find("devicePool/callManagerGroup/members/member/callManager/ports")
    assert [(e.tag, e.text) for e in ports] == [("ethernetPhonePort", "2000")]
    assert root.find("sipProfile") is None
    assert root.findtext("authenticationURL") == ""


def test_xmldefault_follows_friendly_waldos_and_sccp_managers(demo):
    """acaeti/friendly-waldo's XMLDefault.cnf.xml: the same group paths, autoRegistration
    enabled|disabled (it was a boolean autoRegistrationName, which in that file is a name),
    one loadInformationNNN@model per model with its numbers (621 for the 7821, 684 for the
    8851); sccp_manager's XMLDefault template: the service URLs. authenticationURL empty."""
    with demo.session() as s:
        loads = default_loads(s, CAT)
    root = doc(render_default(loads, SERVER, True))
    assert missing(root, XMLDEFAULT_PATHS) == []
    assert root.findtext("autoRegistration") == "enabled"
    assert doc(render_default(loads, SERVER, False)).findtext("autoRegistration") == "disabled"
    assert root.find("loadInformation621").get("model") == "Cisco 7821"
    assert root.find("loadInformation684").get("model") == "Cisco 8851"
    assert root.findtext("authenticationURL") == ""


def test_authentication_url_is_empty_not_a_404(demo):
    """/screens/authenticate is no route of this server (it answered 404): the element stays
    empty, as usecallmanagernz and wazo leave it when unused (docs/rules.md)."""
    for name in ("SEP001122330002", "SEP001122330001"):
        assert doc(render_device(config(demo, name), SERVER)).findtext("authenticationURL") == ""


def test_version_stamp_is_the_files_digest_in_the_uuid_shape(demo):
    """versionStamp: the 8-4-4-4-12 shape of usecallmanagernz's stamp, from the SHA-256 of
    the file with a placeholder stamp: the same device renders the same stamp whatever
    else changed, and any change to its file gives another."""
    data = render_device(config(demo, "SEP001122330002"), SERVER)
    stamp = doc(data).findtext("versionStamp")
    assert UUID_SHAPE.match(stamp)
    unstamped = data.replace(f"<versionStamp>{stamp}</versionStamp>".encode(),
                             f"<versionStamp>{STAMP_PLACEHOLDER}</versionStamp>".encode())
    digest = hashlib.sha256(unstamped).hexdigest()
    assert stamp.replace("-", "") == digest[:32]
    assert render_device(config(demo, "SEP001122330002"), SERVER) == data
    changed = render_device(config(demo, "SEP001122330002", description="Bob's new desk"), SERVER)
    assert doc(changed).findtext("versionStamp") != stamp


def test_a_change_to_one_phone_leaves_the_others_files_and_stamps_alone(demo_db, tmp_path):
    """Issue #16: the site stamp moved every phone's versionStamp, so a change anywhere made
    every phone re-download. Served through ConfigFiles (still cached under the site stamp):
    after bob's description changes, bob's stamp moves and carol's file is byte for byte the same."""
    files = ConfigFiles(demo_db, CAT, SERVER, tmp_path, tmp_path, Metrics())
    bob_before = files.resolve("SEP001122330002.cnf.xml")
    other_before = files.resolve("SEP001122330010.cnf.xml")
    with demo_db.session() as s:
        site_before = current_version(s)
        bob = s.exec(select(Device).where(Device.name == "SEP001122330002")).one()
        bob.description = "Bob's new desk"
        s.add(bob)
    with demo_db.session() as s:
        assert current_version(s) != site_before  # the cache key moved
    bob_after = files.resolve("SEP001122330002.cnf.xml")
    assert etree.fromstring(bob_after).findtext("versionStamp") != etree.fromstring(bob_before).findtext("versionStamp")
    assert files.resolve("SEP001122330010.cnf.xml") == other_before


def test_a_79xx_kem_carries_its_load_an_8800_kem_none_known(demo):
    """sccp_manager writes each KEM's load in addOnModule/loadInformation (xmlinterface.class.php)
    from its KEM table (install.php: 7914 S00105000400, 7915 B015-1-0-4-2, 7916 B016-1-0-4-2);
    the catalogue now holds those loads. No public file names an 8800 KEM's load: it stays empty."""
    alice = doc(render_device(config(demo, "SEP001122330001"), SERVER))  # 7965 with a 7914
    assert [(m.get("idx"), m.findtext("deviceType"), m.findtext("loadInformation"))
            for m in alice.findall("addOnModules/addOnModule")] == [("1", "7914", "S00105000400")]
    assert (CAT.kem("7915").default_load, CAT.kem("7916").default_load) == ("B015-1-0-4-2", "B016-1-0-4-2")
    two = doc(render_device(config(demo, "SEP001122330001", kems=(KemConfig("7915", "B015-1-0-4-2"),
                                                                  KemConfig("7915", "B015-1-0-4-2"))), SERVER))
    assert [(m.get("idx"), m.findtext("loadInformation")) for m in two.findall("addOnModules/addOnModule")] \
        == [("1", "B015-1-0-4-2"), ("2", "B015-1-0-4-2")]
    bob = doc(render_device(config(demo, "SEP001122330002"), SERVER))  # 8851 with a BEKEM
    assert bob.findtext("addOnModules/addOnModule/loadInformation") == ""


def test_a_kems_device_line_is_its_line_keys_and_an_8800_kem_takes_no_load(demo):
    """The addOnModule notes of usecallmanagernz/usecallmanagernz.github.io sepmac-cnf-xml.html:
    deviceLine is the module's number of line keys (7914 14, 7915 and 7916 24, BEKEM 36,
    CP-8800-Audio and CP-8800-Video 28; sccp_manager's install.php KEM table gives 14 and 24 too),
    and loadInformation is needed only for the 7914, 7915 and 7916: the 8800 modules have no
    firmware of their own (also chan-sccp/chan-sccp issue #623). deviceLine used to be empty."""
    def modules(name):
        root = doc(render_device(config(demo, name), SERVER))
        return [(m.findtext("deviceType"), m.findtext("deviceLine"), m.findtext("loadInformation"))
                for m in root.findall("addOnModules/addOnModule")]

    assert modules("SEP001122330001") == [("7914", "14", "S00105000400")]  # alice's 7965
    assert modules("SEP001122330002") == [("BEKEM", "36", "")]  # bob's 8851
    assert modules("SEP001122330030") == [("CP-8800-Video", "28", "")]  # ivan's 8865
    assert [CAT.kem(k).capacity for k in ("7915", "7916", "CP-8800-Audio")] == [24, 24, 28]
