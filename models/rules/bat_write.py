"""Writing CUCM BAT files: "Export Phones - All Details" and the BAT phone format, as many
line columns as the phone with the most lines needs (the reading side is ``models.rules.bat_format``)."""

from __future__ import annotations

import csv
from typing import Iterable, TextIO

from models.rules import datetime_group
from models.rules.bat_format import ALL_DETAILS, BAT, FORMAT_TITLES, BatLine, BatPhone
from models.rules.catalog import Catalog, UnknownModel
from models.rules.refusals import Refused

_AD_DEVICE = [("Device Name", "name"), ("Description", "description"), ("Device Pool", "device_pool"),
              ("Phone Button Template", "template"), ("CSS", "calling_search_space"), ("Location", "location"),
              ("Extension Mobility", "em_enabled"), ("Network Locale", "network_locale"),
              ("Device User Locale", "user_locale"), ("Module 1", "kem1"), ("Module 2", "kem2"),
              ("Phone Load Name", "load_override"), ("Device Type", "model"),
              ("Common Phone Profile", "common_profile"), ("Owner User ID", "owner"),
              ("Allow CTI Control Flag", "cti_controlled"), ("Device Security Profile", "security_profile"),
              ("Device Protocol", "protocol"), ("SIP Profile", "sip_profile"), ("Module 3", "kem3")]


_AD_LINE = [("Directory Number", "pattern"), ("Route Partition", "partition"), ("Line Text Label", "label"),
            ("Maximum Number of Calls", "max_calls"), ("Busy Trigger", "busy_trigger"),
            ("Line Description", "description"), ("Alerting Name", "alerting_name"),
            ("Display", "display_name"), ("ASCII Display", "ascii_display_name")]


_AD_INTERCOM = [("Intercom Directory Number", "pattern"), ("Intercom Route Partition", "partition"),
                ("Intercom Line Text Label", "label"), ("Intercom Display", "display_name")]


_BAT_DEVICE = [("MAC ADDRESS", "mac"), ("DESCRIPTION", "description"), ("LOCATION", "location"), ("USER ID", "owner")]


_BAT_LINE = [("DIRECTORY NUMBER", "pattern"), ("DISPLAY", "display_name"), ("LINE TEXT LABEL", "label")]


def write_phones(phones: Iterable[BatPhone], fmt: str, catalog: Catalog, out: TextIO) -> None:
    """Write ``phones`` in ``fmt``; as many line columns as the phone with the most lines needs.

    The BAT phone format has no device type, template, security profile, KEM
    or intercom column; ROUTE PARTITION N columns are added at the end when a
    line has a partition, so the default columns keep their places.
    """
    if fmt not in FORMAT_TITLES:
        raise Refused("bad_format", f'unknown BAT format "{fmt}" (all-details or bat)')
    phones = list(phones)
    normal = [[l for l in p.lines if not l.intercom] for p in phones]
    intercom = [[l for l in p.lines if l.intercom] for p in phones]
    n_lines = max([len(ls) for ls in normal] + [1])
    n_speed = max([len(p.speed_dials) for p in phones] + [0])
    n_intercom = max([len(ls) for ls in intercom] + [0]) if fmt == ALL_DETAILS else 0
    partitions = fmt == BAT and any(l.partition for ls in normal for l in ls)
    device_cols, line_cols = (_AD_DEVICE, _AD_LINE) if fmt == ALL_DETAILS else (_BAT_DEVICE, _BAT_LINE)
    if fmt == ALL_DETAILS and any(p.date_time is not None for p in phones):
        # T-7: the pools' date/time groups after CUCM's columns, only when the site holds one, so a
        # site without any still exports exactly CUCM's columns
        device_cols = [*device_cols, *datetime_group.BAT_COLUMNS]
    speed_titles = ("Speed Dial Number", "Speed Dial Label") if fmt == ALL_DETAILS else ("SPEED DIAL NUMBER",
                                                                                         "SPEED DIAL LABEL")
    header = [title for title, _ in device_cols]
    header += [f"{title} {n}" for n in range(1, n_lines + 1) for title, _ in line_cols]
    header += [f"{title} {n}" for n in range(1, n_speed + 1) for title in speed_titles]
    header += [f"{title} {n}" for n in range(1, n_intercom + 1) for title, _ in _AD_INTERCOM]
    header += [f"ROUTE PARTITION {n}" for n in range(1, n_lines + 1)] if partitions else []
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(header)
    for phone, own_lines, own_intercom in zip(phones, normal, intercom):
        values = _device_values(phone, catalog)
        record = [values.get(name, "") for _, name in device_cols]
        record += _padded(own_lines, n_lines, line_cols)
        record += [v for n in range(n_speed) for v in (phone.speed_dials[n] if n < len(phone.speed_dials) else ("", ""))]
        record += _padded(own_intercom, n_intercom, _AD_INTERCOM)
        record += [own_lines[n].partition if n < len(own_lines) else "" for n in range(n_lines)] if partitions else []
        writer.writerow(record)


def _device_values(phone: BatPhone, catalog: Catalog) -> dict[str, str]:
    values = {k: ("t" if v else "f") if isinstance(v, bool) else str(v) for k, v in phone.device.items()}
    values.update(name=phone.name, mac=phone.mac, model=_display_name(catalog.model, phone.model),
                  protocol=phone.protocol, owner=phone.owner or "", template=phone.template or "",
                  security_profile=phone.security_profile or "")
    values.update(datetime_group.to_cells(phone.date_time))
    for slot, key in enumerate(phone.kems, 1):
        values[f"kem{slot}"] = _display_name(catalog.kem, key)
    return values


def _display_name(lookup, key: str) -> str:
    """The catalogue's name (what the import reads back); the key itself if an override dropped it."""
    try:
        return lookup(key).display_name
    except UnknownModel:
        return key


def _padded(lines: list[BatLine], count: int, columns: list[tuple[str, str]]) -> list[str]:
    cells = []
    for n in range(count):
        line = lines[n] if n < len(lines) else None
        for _, name in columns:
            value = getattr(line, name) if line is not None else ""
            cells.append("" if value is None else str(value))
    return cells
