"""What Kamailio says about a registration, as ``models.rules.registration.Register`` values.

Two sources: the form kamailio.cfg posts for a REGISTER or an expired contact
(``from_form``), and a contact of ``ul.dump`` (``from_location``). Only
translation here: which device, and whether it may register, the models decide.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from ivr.restart import parse_contact
from models.rules.registration import TRANSPORTS, Register

_TRANSPORT = re.compile(r";transport=([A-Za-z]+)", re.I)


class BadForm(ValueError):
    """A form that is not a registration; the message says what is wrong."""


def split_params(text: str) -> list[str]:
    """``;``-separated parts, a ``;`` or ``,`` inside double quotes or ``<>`` left alone; stops at a top-level ``,``."""
    parts, current, quoted, angle = [], [], False, False
    for char in text:
        if char == '"' and not angle:
            quoted = not quoted
        elif char == "<" and not quoted:
            angle = True
        elif char == ">" and not quoted:
            angle = False
        elif char in ";," and not quoted and not angle:
            parts.append("".join(current).strip())
            current = []
            if char == ",":
                return parts
            continue
        current.append(char)
    parts.append("".join(current).strip())
    return parts


def parse_contact_header(header: str) -> tuple[str, dict[str, str]]:
    """The first contact's URI and its header parameters (names lower case, values unquoted):
    ``<sip:1001@h:5060;transport=tcp>;+sip.instance="<urn:...>"`` -> (``sip:1001@h:5060;transport=tcp``,
    ``{"+sip.instance": "<urn:...>"}``). ``*`` stays ``*``."""
    header = (header or "").strip()
    if header == "*":
        return "*", {}
    if header.startswith('"'):  # a display name
        header = header[header.find('"', 1) + 1:].strip() if header.find('"', 1) > 0 else header
    if "<" in header.split(";")[0]:  # a name-addr: the URI is between the angle brackets
        start = header.index("<")
        end = header.find(">", start)
        if end < 0:
            raise BadForm("Contact: no closing >")
        uri, rest = header[start + 1:end], header[end + 1:]
        params = split_params(rest)[1:] if rest.strip().startswith(";") else []
    else:  # an addr-spec: every ;parameter belongs to the header (RFC 3261 20.10)
        uri, *params = split_params(header)
    found: dict[str, str] = {}
    for param in params:
        name, _, value = param.partition("=")
        if name.strip():
            found[name.strip().lower()] = value.strip().strip('"')
    return uri.strip(), found


def transport_of(*uris: str | None, socket: str | None = None, default: str = "udp") -> str:
    """``udp``/``tcp``/``tls``: a URI's ``transport`` parameter, else a Kamailio socket's protocol."""
    for uri in uris:
        found = _TRANSPORT.search(uri or "")
        if found and found.group(1).lower() in TRANSPORTS:
            return found.group(1).lower()
        if (uri or "").lower().startswith("sips:"):
            return "tls"
    proto = (socket or "").split(":", 1)[0].lower()
    return proto if proto in TRANSPORTS else default


def hostport(uri: str | None) -> str | None:
    """``ip:port`` of a SIP URI (port 5060 when none is given); None when it is not one."""
    try:
        _, host, port = parse_contact(uri or "")
    except ValueError:
        return None
    return f"{host}:{port}"


def from_form(form: Mapping[str, str]) -> Register:
    """The form kamailio.cfg posts (route REG_FORM, event_route[usrloc:contact-expired])."""
    aor, call_id = form.get("aor", "").strip(), form.get("call_id", "").strip()
    if not aor or not call_id:
        raise BadForm("aor and call_id are required")
    try:
        expires = int(form.get("expires", "0") or 0)
    except ValueError:
        raise BadForm("expires: a number of seconds") from None
    contact, params = form.get("contact", "").strip(), {}
    if form.get("contact_header"):
        contact, params = parse_contact_header(form["contact_header"])
    received = form.get("received") or None
    transport = (form.get("transport") or "").lower()
    if transport not in TRANSPORTS:
        transport = transport_of(received, contact, socket=form.get("socket"))
    return Register(
        aor=aor, contact=contact, call_id=call_id, expires=max(expires, 0), transport=transport,
        source=form.get("source") or hostport(received) or hostport(contact) or "",
        instance=form.get("instance") or params.get("+sip.instance") or None,
        device_name=params.get("+u.sip!devicename.ccm.cisco.com") or None,
        user_agent=form.get("user_agent") or None, received=received,
    )


def from_location(aor: str, contact: Mapping) -> Register | None:
    """One ``Contact`` of ``ul.dump``; None for one that no longer counts (expired, deleted)."""
    expires = contact.get("Expires")
    if not isinstance(expires, int) or expires <= 0:
        return None

    def text(key: str) -> str | None:
        value = contact.get(key)
        return None if value in (None, "", "[not set]") else str(value)

    address, received = text("Address") or "", text("Received")
    return Register(
        aor=aor, contact=address, call_id=text("Call-ID") or "", expires=expires,
        transport=transport_of(received, address, socket=text("Socket")),
        source=hostport(received) or hostport(address) or "", instance=text("Instance"),
        user_agent=text("User-Agent"), received=received,
    )


def location_registers(dump: Mapping) -> list[Register]:
    """Every current contact in an ``ul.dump`` result (all location domains)."""
    found: list[Register] = []
    for domain in dump.get("Domains") or []:
        for record in (domain.get("Domain") or {}).get("AoRs") or []:
            info = record.get("Info") or {}
            for item in info.get("Contacts") or []:
                reg = from_location(str(info.get("AoR", "")), item.get("Contact") or {})
                if reg is not None:
                    found.append(reg)
    return found
