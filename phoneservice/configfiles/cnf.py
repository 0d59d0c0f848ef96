"""Render ``SEP<MAC>.cnf.xml`` and ``XMLDefault.cnf.xml`` with lxml (T-1, T-5).

Pure functions from ``models.services.provisioning`` data to bytes; element paths
follow docs/protocol.md ("Config files") and the public real-world samples it
names. ``schemas/cnf.rng`` (written from the same facts) validates every
rendered file in the tests. docs/rules.md ("Config file values") lists each coded
value and the public file it was checked against.

Samples named below (read, never copied):

- CUCM 12.5: the SEP file CUCM 12.5 wrote for a 7821, embedded in
  acaeti/friendly-waldo ``friendly-waldo.rb``;
- usecallmanagernz: usecallmanagernz/tftpboot ``SEPMAC.cnf.xml``;
- wazo: wazo-platform/wazo-provd-plugins ``plugins/wazo_cisco_sip/common/templates/base.tpl``
  and ``common.py``;
- sccp_manager: chan-sccp/sccp_manager ``conf/SEP0000000000.cnf.xml_796x_template``.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from urllib.parse import quote

from lxml import etree
from lxml.builder import E

from models.rules.datetime_group import DateTimeGroup
from models.services.provisioning import DeviceConfig

# 1 non-secure: CUCM 12.5 and usecallmanagernz; 2 and 3: docs/protocol.md (no public sample of a secure file).
SECURITY_MODE = {"non_secure": "1", "authenticated": "2", "encrypted": "3"}
# tcp 1, udp 2, tls 3: wazo common.py (_SIP_TRANSPORT); tcp 1 also usecallmanagernz;
# tcp_udp 4: CUCM 12.5 (a "TCP+UDP" phone security profile, the CUCM default).
TRANSPORT = {"tcp": "1", "udp": "2", "tls": "3", "tcp_udp": "4"}
# line 9: every sample; speed dial 2: CUCM 12.5 and wazo; BLF 21: wazo (fkey_type).
FEATURE_ID = {"line": "9", "speed_dial": "2", "blf": "21"}
# en_US: CUCM 12.5 (English_United_States); the others follow its language_COUNTRY shape (unconfirmed).
LANG_CODES = {"English_United_States": "en_US", "French_France": "fr_FR", "German_Germany": "de_DE",
              "Spanish_Spain": "es_ES"}
# A line's autoAnswer/autoAnswerEnabled for a line without auto-answer: 2 in CUCM 12.5 and wazo
# (usecallmanagernz writes 0); we follow CUCM.
AUTO_ANSWER_OFF = "2"
# A BLF button's featureOptionMask: 1 in wazo (the only sample with a BLF button).
BLF_OPTION_MASK = "1"
# ntp/ntpMode: CUCM 12.5 writes Unicast (usecallmanagernz's notes spell it unicast, the other
# mode being directedbroadcast); the product only knows unicast servers.
NTP_MODE = "Unicast"


@dataclass(frozen=True)
class ServerInfo:
    """Where phones find the call control and this server's screens."""

    callmanager_name: str = "phone-migration"
    callmanager_host: str = "127.0.0.1"
    sip_port: int = 5060
    secured_sip_port: int = 5061
    sccp_port: int = 2000
    services_base: str = "http://127.0.0.1:8080"
    call_manager_group: str = "Default"


def _text(tag: str, value: object) -> etree._Element:
    element = etree.Element(tag)
    element.text = "" if value is None else str(value)
    return element


def _call_manager_group(server: ServerInfo, protocol: str) -> etree._Element:
    ports = E.ports(_text("ethernetPhonePort", server.sccp_port))
    if protocol == "SIP":
        ports.append(_text("sipPort", server.sip_port))
        ports.append(_text("securedSipPort", server.secured_sip_port))
    return E.callManagerGroup(
        _text("name", server.call_manager_group),
        _text("tftpDefault", "true"),
        E.members(E.member(
            E.callManager(
                _text("name", server.callmanager_name),
                ports,
                _text("processNodeName", server.callmanager_host),
            ),
            priority="0",
        )),
    )


def _service_url(server: ServerInfo, path: str, name: str | None) -> str:
    url = f"{server.services_base.rstrip('/')}/{path}"
    return f"{url}?name={quote(name)}" if name else url


def _urls(server: ServerInfo, name: str | None) -> list[etree._Element]:
    return [
        _text("servicesURL", _service_url(server, "screens/", name)),
        _text("directoryURL", ""),
        # Empty, as usecallmanagernz and wazo leave it: this server has no authentication
        # endpoint (docs/rules.md, "Config file values"), and a URL that answers 404 breaks
        # the phone's authenticated services.
        _text("authenticationURL", ""),
        _text("idleURL", ""),
        _text("informationURL", ""),
        _text("messagesURL", ""),
        _text("proxyServerURL", ""),
    ]


def _line(line) -> etree._Element:
    return E.line(
        _text("featureID", FEATURE_ID["line"]),
        _text("featureLabel", line.label),
        _text("proxy", "USECALLMANAGER"),
        _text("port", "5060"),
        _text("name", line.dn),
        _text("displayName", line.display_name),
        E.autoAnswer(_text("autoAnswerEnabled", AUTO_ANSWER_OFF)),
        _text("callWaiting", "3"),
        _text("authName", line.dn),
        _text("authPassword", ""),
        _text("sharedLine", "true" if line.shared else "false"),
        _text("messageWaitingLampPolicy", "3"),
        _text("messagesNumber", ""),
        _text("contact", line.dn),
        _text("maxNumCalls", line.max_calls),
        _text("busyTrigger", line.busy_trigger),
        button=str(line.button),
        lineIndex=str(line.button),
    )


def _features(features) -> list[etree._Element]:
    """Speed dials carry ``speedDialIndex`` (1, 2, ... among the speed dials: CUCM 12.5);
    BLF buttons carry ``featureOptionMask`` after ``speedDialNumber`` (wazo). Neither has
    a ``lineIndex`` (CUCM 12.5)."""
    elements = []
    speed_dials = 0
    for feature in features:
        element = E.line(
            _text("featureID", FEATURE_ID[feature.feature]),
            _text("featureLabel", feature.label),
            _text("speedDialNumber", feature.target),
            button=str(feature.button),
        )
        if feature.feature == "speed_dial":
            speed_dials += 1
            element.append(_text("speedDialIndex", speed_dials))
        else:
            element.append(_text("featureOptionMask", BLF_OPTION_MASK))
        elements.append(element)
    return elements


def _date_time(group: DateTimeGroup) -> etree._Element:
    """devicePool/dateTimeSetting as CUCM 12.5 writes it (its 7821 file): the group's name,
    dateTemplate, timeZone, olsonTimeZone, then ntps with one ntp (name, an empty nameV6,
    ntpMode) per server, in the group's order. A group with no server has no ntps (the phone
    then takes its time from the call control)."""
    setting = E.dateTimeSetting(_text("name", group.name), _text("dateTemplate", group.date_template),
                                _text("timeZone", group.time_zone), _text("olsonTimeZone", group.olson_time_zone))
    if group.ntp_servers:
        setting.append(E.ntps(*[E.ntp(_text("name", server), _text("nameV6", ""), _text("ntpMode", NTP_MODE))
                                for server in group.ntp_servers]))
    return setting


def _add_on_modules(config: DeviceConfig) -> etree._Element:
    """addOnModule@idx with deviceType, deviceLine, loadInformation (usecallmanagernz's
    commented-out block). deviceLine is the module's line keys over all its pages (the
    usecallmanagernz notes: 14 for a 7914, 24 for a 7915/7916, 36 for a BEKEM, 28 for the
    CP-8800 Audio/Video; sccp_manager's KEM table says the same for the 79xx ones). The load
    is the KEM's catalogue load, as sccp_manager writes its KEM table's load there; the 8800
    KEMs have none: the phone updates them from its own firmware (docs/rules.md)."""
    modules = E.addOnModules()
    for idx, kem in enumerate(config.kems, 1):
        modules.append(E.addOnModule(_text("deviceType", kem.model), _text("deviceLine", kem.lines or ""),
                                     _text("loadInformation", kem.load), idx=str(idx)))
    return modules


def _vendor(config: DeviceConfig) -> etree._Element:
    vendor = E.vendorConfig()
    for name in sorted(config.product_params):
        vendor.append(_text(name, config.product_params[name]))
    return vendor


def _locale(config: DeviceConfig) -> list[etree._Element]:
    return [
        E.userLocale(_text("name", config.user_locale), _text("langCode", LANG_CODES.get(config.user_locale, "en_US"))),
        _text("networkLocale", config.network_locale),
    ]


def render_device(config: DeviceConfig, server: ServerInfo) -> bytes:
    """``SEP<MAC>.cnf.xml``: the SIP tree for 78xx/88xx, the SCCP tree for 79xx.

    ``versionStamp`` is a digest of the file itself (``version_stamp``): it moves
    exactly when this device's file changes, never for another phone's change.
    """
    device = E.device(
        _text("fullConfig", "true"),
        _text("deviceProtocol", config.protocol),
        E.devicePool(
            _text("name", config.device_pool),
            _date_time(config.date_time),
            _call_manager_group(server, config.protocol),
        ),
    )
    if config.protocol == "SIP":
        lines = E.sipLines(*[_line(line) for line in config.lines], *_features(config.features))
        device.append(E.sipProfile(
            E.sipProxies(_text("registerWithProxy", "true")),
            E.sipCallFeatures(_text("cnfJoinEnabled", "true"), _text("rfc2543Hold", "false")),
            E.sipStack(_text("remotePartyID", "true"), _text("userInfo", "None")),
            _text("phoneLabel", config.description[:32]),
            _text("profileName", config.sip_profile or "Standard SIP Profile"),
            lines,
        ))
    device.append(E.commonProfile(_text("phonePassword", ""), _text("backgroundImageAccess", "true"),
                                  _text("callLogBlfEnabled", "2")))
    device.append(_text("loadInformation", config.load))
    device.append(_vendor(config))
    device.append(_add_on_modules(config))
    device.extend(_locale(config))
    device.append(_text("deviceSecurityMode", SECURITY_MODE.get(config.security_mode, "1")))
    if config.protocol == "SIP":
        device.append(_text("transportLayerProtocol", TRANSPORT.get(config.transport, "2")))
    device.extend(_urls(server, config.name))
    device.append(_text("versionStamp", STAMP_PLACEHOLDER))
    return stamp(_serialize(device))


def render_default(loads: list[tuple[int, str, str]], server: ServerInfo, autoreg_enabled: bool) -> bytes:
    """``XMLDefault.cnf.xml``: the call-manager group and one load per model (T-1, S-6)."""
    root = E.Default(
        # autoRegistration enabled|disabled before the group, as in the XMLDefault.cnf.xml of
        # acaeti/friendly-waldo (which also sends autoRegistrationName, a name, not a flag).
        _text("autoRegistration", "enabled" if autoreg_enabled else "disabled"),
        _call_manager_group(server, "SIP"),
    )
    for number, model, load in loads:
        element = _text(f"loadInformation{number}", load)
        element.set("model", model)
        root.append(element)
    root.extend(_urls(server, None))
    return _serialize(root)


XML_DECLARATION = b'<?xml version="1.0" encoding="UTF-8"?>\n'
STAMP_PLACEHOLDER = "00000000-0000-0000-0000-000000000000"
_STAMP_ELEMENT = f"<versionStamp>{STAMP_PLACEHOLDER}</versionStamp>".encode()


def version_stamp(unstamped: bytes) -> str:
    """The first 32 hex digits of the SHA-256 of the file with the placeholder stamp,
    in the 8-4-4-4-12 shape of usecallmanagernz's stamp (CUCM 12.5 writes
    ``<seconds>-<uuid>``): the same bytes always give the same stamp, any change
    another."""
    digest = hashlib.sha256(unstamped).hexdigest()
    return f"{digest[:8]}-{digest[8:12]}-{digest[12:16]}-{digest[16:20]}-{digest[20:32]}"


def stamp(unstamped: bytes) -> bytes:
    """Fill the placeholder ``versionStamp`` (the last one: text is escaped, so no
    element name can come from the data) with the file's ``version_stamp``."""
    head, found, tail = unstamped.rpartition(_STAMP_ELEMENT)
    if not found:
        raise ValueError("no versionStamp placeholder")
    return head + f"<versionStamp>{version_stamp(unstamped)}</versionStamp>".encode() + tail


def _serialize(root: etree._Element) -> bytes:
    return XML_DECLARATION + etree.tostring(root, xml_declaration=False, encoding="UTF-8", pretty_print=True)
