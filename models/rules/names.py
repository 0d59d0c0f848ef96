"""Device names and MAC addresses: every spelling a person types, to the one the site stores (C-11)."""

from __future__ import annotations

import re

from models.rules.refusals import Refused

_MAC_HEX = re.compile(r"^[0-9A-F]{12}$")


_DEVICE_NAME = re.compile(r"^SEP[0-9A-F]{12}$")


def normalize_mac(text: str) -> str:
    """A MAC in any usual spelling -> 12 upper-case hex digits, else Refused.

    Accepts ``9c57ad12a4e0``, ``9C:57:AD:12:A4:E0``, ``9c-57-ad-12-a4-e0``,
    ``9c57.ad12.a4e0`` and ``SEP9C57AD12A4E0``.
    """
    raw = (text or "").strip().upper()
    if raw.startswith("SEP"):
        raw = raw[3:]
    compact = re.sub(r"[:\-.]", "", raw)
    if not _MAC_HEX.match(compact) or (raw != compact and not _well_grouped(raw)):
        raise Refused("bad_mac", f'"{text}" is not a MAC address (12 hexadecimal digits)')
    return compact


def _well_grouped(raw: str) -> bool:
    return bool(
        re.fullmatch(r"([0-9A-F]{2}[:-]){5}[0-9A-F]{2}", raw) or re.fullmatch(r"([0-9A-F]{4}\.){2}[0-9A-F]{4}", raw)
    )


def device_name_for_mac(mac: str) -> str:
    """C-11: the new device is named SEP + MAC in upper case."""
    return "SEP" + normalize_mac(mac)


def normalize_device_name(text: str) -> str:
    """``sep9c57...`` or a bare MAC -> ``SEP9C57...``; other names kept as typed."""
    raw = (text or "").strip()
    if _DEVICE_NAME.match(raw.upper()) or _MAC_HEX.match(re.sub(r"[:\-.]", "", raw.upper())):
        return device_name_for_mac(raw)
    return raw


def is_phone_device_name(text: str) -> bool:
    return bool(_DEVICE_NAME.match(text or ""))
