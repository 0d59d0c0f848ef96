"""Who is calling: the INVITE's calling number and Cisco's device parameters.

``parse_invite`` reads the From user and, from Contact, Cisco's
``+u.sip!devicename.ccm.cisco.com`` and ``+sip.instance`` (docs/protocol.md "SIP").
Pure text in, a ``CallerId`` out: the pjsua2 account (``ivr.pjsua``) calls it
with the INVITE it received, and the adapter (``ivr.adapter``) asks the engine
which new phone that is.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import unquote


@dataclass(frozen=True)
class CallerId:
    """The INVITE's calling number (From user) and Cisco's device parameters in Contact."""

    number: str | None = None
    device_name: str | None = None  # +u.sip!devicename.ccm.cisco.com
    instance: str | None = None  # +sip.instance, e.g. "<urn:uuid:...-9c57ad12a4e0>"


_COMPACT = {"f": "from", "m": "contact"}
_URI_USER = re.compile(r"sips?:([^@;>?\s]+)@", re.IGNORECASE)
_DEVICENAME = re.compile(r';\s*\+u\.sip!devicename\.ccm\.cisco\.com\s*=\s*"?([^";,\s]+)"?', re.IGNORECASE)
_INSTANCE = re.compile(r';\s*\+sip\.instance\s*=\s*"?(<[^>]*>|[^";,\s]+)"?', re.IGNORECASE)


def parse_invite(message: str) -> CallerId:
    """docs/protocol.md "SIP": From user, Contact ``devicename`` and ``+sip.instance``."""
    head = re.split(r"\r?\n\r?\n", message or "", maxsplit=1)[0]
    head = re.sub(r"\r?\n[ \t]+", " ", head)  # unfold continuation lines
    headers: dict[str, str] = {}
    for line in head.splitlines()[1:]:
        name, colon, value = line.partition(":")
        name = name.strip().lower()
        name = _COMPACT.get(name, name)
        if colon and name in ("from", "contact") and name not in headers:
            headers[name] = value.strip()
    sender = headers.get("from", "")
    uri = sender[sender.find("<") + 1 :] if "<" in sender else sender
    user = _URI_USER.search(uri)
    contact = headers.get("contact", "")
    device = _DEVICENAME.search(contact)
    instance = _INSTANCE.search(contact)
    return CallerId(
        number=unquote(user.group(1)) if user else None,
        device_name=device.group(1) if device else None,
        instance=instance.group(1) if instance else None,
    )
