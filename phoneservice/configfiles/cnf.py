"""Render ``SEP<MAC>.cnf.xml`` and ``XMLDefault.cnf.xml`` with lxml (T-1, T-5).

Pure functions from ``models.services.provisioning`` data to bytes; element paths
follow docs/protocol.md ("Config files") and the public real-world samples it
names. ``schemas/cnf.rng`` (written from the same facts) validates every
rendered file in the tests.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import quote

from lxml import etree
from lxml.builder import E

from models.services.provisioning import DeviceConfig

SECURITY_MODE = {"non_secure": "1", "authenticated": "2", "encrypted": "3"}
TRANSPORT = {"tcp": "1", "udp": "2", "tcp_udp": "2", "tls": "3"}
FEATURE_ID = {"line": "9", "speed_dial": "2", "blf": "21"}
LANG_CODES = {"English_United_States": "en_US", "French_France": "fr_FR", "German_Germany": "de_DE",
              "Spanish_Spain": "es_ES"}


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
        _text("authenticationURL", _service_url(server, "screens/authenticate", None)),
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
        _text("autoAnswer", ""),
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


def _feature(feature) -> etree._Element:
    return E.line(
        _text("featureID", FEATURE_ID[feature.feature]),
        _text("featureLabel", feature.label),
        _text("speedDialNumber", feature.target),
        button=str(feature.button),
    )


def _add_on_modules(config: DeviceConfig) -> etree._Element:
    modules = E.addOnModules()
    for idx, kem in enumerate(config.kems, 1):
        modules.append(E.addOnModule(_text("deviceType", kem), _text("deviceLine", ""), _text("loadInformation", ""),
                                     idx=str(idx)))
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


def render_device(config: DeviceConfig, server: ServerInfo, version: int) -> bytes:
    """``SEP<MAC>.cnf.xml``: the SIP tree for 78xx/88xx, the SCCP tree for 79xx.

    ``version`` is the site's version stamp: any change anywhere gives the
    phone a new ``versionStamp``, so a restart request makes it reload.
    """
    device = E.device(
        _text("fullConfig", "true"),
        _text("deviceProtocol", config.protocol),
        E.devicePool(
            _text("name", config.device_pool),
            E.dateTimeSetting(_text("dateTemplate", "M/D/Y"), _text("timeZone", "Greenwich Standard Time")),
            _call_manager_group(server, config.protocol),
        ),
    )
    if config.protocol == "SIP":
        lines = E.sipLines(*[_line(line) for line in config.lines], *[_feature(f) for f in config.features])
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
    device.append(_text("versionStamp", str(version)))
    return _serialize(device)


def render_default(loads: list[tuple[int, str, str]], server: ServerInfo, autoreg_enabled: bool) -> bytes:
    """``XMLDefault.cnf.xml``: the call-manager group and one load per model (T-1, S-6)."""
    root = E.Default(
        _call_manager_group(server, "SIP"),
        _text("autoRegistrationName", "true" if autoreg_enabled else "false"),
    )
    for number, model, load in loads:
        element = _text(f"loadInformation{number}", load)
        element.set("model", model)
        root.append(element)
    root.extend(_urls(server, None))
    return _serialize(root)


XML_DECLARATION = b'<?xml version="1.0" encoding="UTF-8"?>\n'


def _serialize(root: etree._Element) -> bytes:
    return XML_DECLARATION + etree.tostring(root, xml_declaration=False, encoding="UTF-8", pretty_print=True)
