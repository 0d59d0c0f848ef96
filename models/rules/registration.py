"""R-1..R-3 and R-6 as pure functions: which device a REGISTER is from, whether
a registration still counts, and what a migration's registration state is.

No database here: ``models.services.registrations`` reads and writes, these
decide.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta

from models.rules.names import is_phone_device_name

TRANSPORTS = ("udp", "tcp", "tls")
# Cisco's instance id is the MAC in the last 12 hex digits of a nil-based UUID.
_INSTANCE = re.compile(r"^<?urn:uuid:00000000-0000-0000-0000-([0-9a-fA-F]{12})>?$")
_DEVICE = re.compile(r"^\"?(SEP[0-9A-Fa-f]{12})\"?$")
_URI_USER = re.compile(r"^<?sips?:([^@;>]+)@", re.IGNORECASE)
MAX_TEXT = 255


@dataclass(frozen=True)
class Register:
    """One REGISTER as the registrar saw it (R-3's facts)."""

    aor: str  # the To URI's user part: a DN such as "1001", or a device name
    contact: str  # the Contact URI
    transport: str  # udp | tcp | tls
    source: str  # "ip:port" the REGISTER came from
    call_id: str
    expires: int  # seconds granted; 0 de-registers
    instance: str | None = None  # the +sip.instance value as sent
    device_name: str | None = None  # the +u.sip!devicename.ccm.cisco.com value
    user_agent: str | None = None
    received: str | None = None  # where the registrar reaches the phone back (its own connection)


@dataclass(frozen=True)
class RestartTarget:
    """R-5: where and how a restart request reaches a registered phone."""

    device: str
    contact: str
    received: str | None
    transport: str
    call_id: str | None
    model: str


def device_of(reg: Register) -> str | None:
    """R-2: the device name from Cisco's Contact parameters, else from the AOR when
    it is a device name; None when the REGISTER names no device (then the AOR's
    DN decides, ``models.services.registrations``)."""
    for value, pattern in ((reg.device_name, _DEVICE), (reg.instance, _INSTANCE)):
        found = pattern.match((value or "").strip())
        if found:
            name = found.group(1).upper()
            return name if name.startswith("SEP") else "SEP" + name
    aor = (reg.aor or "").strip().upper()
    return aor if is_phone_device_name(aor) else None


def aor_user(uri: str) -> str:
    """The user part of a SIP URI (``sip:1001@host`` -> ``1001``); the text itself when it has none."""
    found = _URI_USER.match((uri or "").strip())
    return found.group(1) if found else (uri or "").strip()


def problems(reg: Register) -> list[str]:
    """What makes a REGISTER unusable whatever the site says (R-1's "anything else")."""
    found = []
    if not reg.aor or len(reg.aor) > MAX_TEXT:
        found.append("no AOR")
    if not reg.contact or len(reg.contact) > MAX_TEXT:
        found.append("no Contact")
    if reg.transport not in TRANSPORTS:
        found.append(f"transport {reg.transport!r}")
    if not reg.call_id or len(reg.call_id) > MAX_TEXT:
        found.append("no Call-ID")
    if not 0 <= reg.expires <= 7 * 24 * 3600:
        found.append("Expires out of range")
    if len(reg.user_agent or "") > MAX_TEXT or len(reg.received or "") > MAX_TEXT or len(reg.source) > 64:
        found.append("a field too long")
    return found


def expires_at(now: datetime, reg: Register) -> datetime:
    return now + timedelta(seconds=reg.expires)


def is_current(expires: datetime | None, now: datetime, grace: timedelta) -> bool:
    """R-3: a registration counts until its expiry plus a short grace, even if no message ends it."""
    return expires is not None and now <= expires + grace


def confirmation(applied: datetime, confirmed: datetime | None, now: datetime, within: timedelta) -> str:
    """R-6: ``confirmed``, ``applied`` (still within the time allowed) or ``unconfirmed`` (overdue)."""
    if confirmed is not None:
        return "confirmed"
    return "applied" if now - applied <= within else "unconfirmed"


# --- what the restart request says, by model ------------------------------------------
CHECK_SYNC_MODELS = frozenset({"7940", "7960"})  # SIP 79x0 firmware: no service-control
# All zeros: "everything you have cached is stale", so the phone fetches its config file,
# dial plan and soft keys again (what FreeSWITCH's sofia_reg.c, wazo-provd's Cisco plugin and
# the usecallmanager Asterisk patch send; CUCM sends its current stamps instead).
STALE_STAMP = "{0000000000000000}"


@dataclass(frozen=True)
class RestartRequest:
    """R-5: the NOTIFY's event headers (CRLF-ended) and its body."""

    headers: str
    body: str


def restart_request(model: str | None, register_call_id: str | None, action: str = "restart") -> RestartRequest:
    """R-5, C-14: a 78xx/88xx (or a model not known to be older) gets Cisco's ``service-control``
    as CUCM sends it (``Subscription-State: active``, a ``text/plain`` body with ``action``, the
    Call-ID of its REGISTER, which the phone checks, empty when unknown, and the three version
    stamps); a SIP 7940/7960 gets ``check-sync`` with no body (docs/protocol.md)."""
    if action not in ("restart", "reset"):
        raise ValueError(f"a restart request's action is restart or reset, not {action!r}")
    if (model or "") in CHECK_SYNC_MODELS:
        return RestartRequest("Event: check-sync\r\nSubscription-State: terminated\r\n", "")
    body = (f"action={action}\r\nRegisterCallId={{{register_call_id or ''}}}\r\n"
            f"ConfigVersionStamp={STALE_STAMP}\r\nDialplanVersionStamp={STALE_STAMP}\r\n"
            f"SoftkeyVersionStamp={STALE_STAMP}\r\n")
    return RestartRequest("Event: service-control\r\nSubscription-State: active\r\nContent-Type: text/plain\r\n", body)
