"""CUCM BAT phone CSV files: read and check them, write them. No database here.

Two layouts (docs/protocol.md, "Catalogue facts"), told apart by the header:

- ``all-details``: BAT "Export Phones – All Details": ``Device Name,Description,
  Device Pool,Phone Button Template,CSS,...,Device Type,...,Owner User ID,...``
  then per line N ``Directory Number N,Route Partition N,...``.
- ``bat``: the default BAT phone format: ``MAC ADDRESS,DESCRIPTION,LOCATION,
  USER ID,DIRECTORY NUMBER 1,DISPLAY 1,LINE TEXT LABEL 1,...``. It names no
  device type: the model and protocol are given by the caller.

Columns are found by name, whatever their order, case or spacing (CUCM writes
``DIRECTORY NUMBER  1`` with two spaces), so a custom BAT file format reads too.
Columns not in the tables below are ignored and listed. Row numbers are the
file's records, the header being row 1, as a spreadsheet shows them.
"""

from __future__ import annotations

import csv
import io
import re
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from models.rules import datetime_group
from models.rules.catalog import Catalog, PhoneModel, UnknownModel
from models.rules.datetime_group import DateTimeGroup
from models.rules.names import normalize_mac
from models.rules.refusals import Refused

ALL_DETAILS, BAT = "all-details", "bat"
FORMAT_TITLES = {ALL_DETAILS: "Export Phones – All Details", BAT: "BAT phone"}
_EMPTY_KEM = {"", "none", "<none>"}
_TRUE, _FALSE = {"t", "true", "y", "yes", "1", "on"}, {"f", "false", "n", "no", "0", "off"}
# A line's DN: digits, * and #, after an optional + or \+ (E.164); CUCM allows 24.
_DN = re.compile(r"^(?:\\?\+)?[0-9*#]{1,24}$")
_INDEXED = re.compile(r"^(.*\S)\s+([0-9]{1,3})$")

# Normalized column name -> what it fills. ``name`` is the identity column.
DEVICE_COLUMNS = {
    "device name": "name", "mac address": "name",
    "description": "description",
    "device pool": "device_pool",
    "phone button template": "template",
    "css": "calling_search_space",
    "location": "location",
    "extension mobility": "em_enabled",
    "network locale": "network_locale",
    "device user locale": "user_locale",
    "phone load name": "load_override",
    "module 1": "kem", "module 2": "kem", "module 3": "kem",
    "device type": "model",
    "common phone profile": "common_profile",
    "owner user id": "owner", "user id": "owner",
    "allow cti control flag": "cti_controlled",
    "device security profile": "security_profile",
    "device protocol": "protocol",
    "sip profile": "sip_profile",
    **{title.casefold(): name for title, name in datetime_group.BAT_COLUMNS},  # the pool's clock (T-7)
}
# Per-index families: normalized column name without its index -> (family, field).
INDEXED_COLUMNS = {
    "directory number": ("line", "pattern"),
    "route partition": ("line", "partition"),
    "line text label": ("line", "label"),
    "display": ("line", "display_name"),
    "ascii display": ("line", "ascii_display_name"),
    "line description": ("line", "description"),
    "alerting name": ("line", "alerting_name"),
    "maximum number of calls": ("line", "max_calls"),
    "busy trigger": ("line", "busy_trigger"),
    # Intercom columns: unconfirmed names (C-2 needs the DN to stay an intercom DN).
    "intercom directory number": ("intercom", "pattern"),
    "intercom route partition": ("intercom", "partition"),
    "intercom line text label": ("intercom", "label"),
    "intercom display": ("intercom", "display_name"),
    "speed dial number": ("speed_dial", "target"),
    "speed dial label": ("speed_dial", "label"),
}
TEXT_FIELDS = ("description", "device_pool", "calling_search_space", "location", "network_locale", "user_locale",
               "load_override", "common_profile", "sip_profile")
BOOL_FIELDS = ("em_enabled", "cti_controlled")
_NAME_LIMITS = {"owner": 128, "template": 128, "security_profile": 128}
_LINE_TEXT = ("partition", "label", "display_name", "ascii_display_name", "description", "alerting_name")


@dataclass(frozen=True)
class RowError:
    row: int
    column: str
    message: str

    def __str__(self) -> str:
        return f"row {self.row}, {self.column}: {self.message}" if self.column else f"row {self.row}: {self.message}"


@dataclass
class BatLine:
    pattern: str
    partition: str = ""
    label: str = ""
    display_name: str = ""
    ascii_display_name: str = ""
    description: str = ""  # the DN's (shared by every appearance)
    alerting_name: str = ""  # the DN's
    max_calls: int | None = None
    busy_trigger: int | None = None
    intercom: bool = False
    column: str = ""  # the Directory Number column it came from, for messages


@dataclass
class BatPhone:
    """One row: a phone as the file describes it (catalogue keys, MAC without SEP)."""

    mac: str
    model: str
    protocol: str
    owner: str | None = None
    template: str | None = None
    security_profile: str | None = None
    kems: list[str] = field(default_factory=list)
    lines: list[BatLine] = field(default_factory=list)
    speed_dials: list[tuple[str, str]] = field(default_factory=list)  # (number, label)
    device: dict[str, Any] = field(default_factory=dict)  # Device columns: description, device_pool, ...
    date_time: DateTimeGroup | None = None  # its device pool's date/time group, when the row gives one (T-7)
    row: int = 0
    name_column: str = ""

    @property
    def name(self) -> str:
        return "SEP" + self.mac


@dataclass
class ParsedFile:
    format: str
    phones: list[BatPhone]
    errors: list[RowError]
    ignored_columns: list[str]
    rows: int  # records after the header, blank ones included


@dataclass(frozen=True)
class _Column:
    index: int
    title: str  # as in the file, whitespace collapsed
    field: str
    n: int = 0


@dataclass
class _Layout:
    format: str
    width: int
    device: dict[str, list[_Column]] = field(default_factory=lambda: defaultdict(list))
    indexed: dict[str, dict[int, dict[str, _Column]]] = field(
        default_factory=lambda: {"line": defaultdict(dict), "intercom": defaultdict(dict), "speed_dial": defaultdict(dict)})
    ignored: list[str] = field(default_factory=list)


def decode(data: bytes | str) -> str:
    """UTF-8 with or without a byte-order mark (Cisco asks for UTF-8)."""
    if isinstance(data, str):
        return data.removeprefix("\ufeff")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise Refused("bad_encoding", f"the file is not UTF-8 (byte {exc.start + 1})") from None


def _layout(header: list[str]) -> _Layout:
    names = [" ".join(h.split()) for h in header]
    keys = [n.casefold() for n in names]
    if "device name" in keys:
        fmt = ALL_DETAILS
    elif "mac address" in keys:
        fmt = BAT
    else:
        raise Refused("bad_header", 'row 1: not a BAT phone file: no "Device Name" column (Export Phones – All '
                                    'Details) and no "MAC ADDRESS" column (BAT phone format)')
    layout, seen, unknown = _Layout(fmt, len(header)), set(), defaultdict(set)
    for index, (title, key) in enumerate(zip(names, keys)):
        if not key:
            continue
        if key in seen:
            match = _INDEXED.match(key)
            if key in DEVICE_COLUMNS or (match and match.group(1) in INDEXED_COLUMNS):
                raise Refused("bad_header", f"row 1, {title}: the column appears twice")
            continue
        seen.add(key)
        if key in DEVICE_COLUMNS and not (key == "user id" and fmt == ALL_DETAILS):
            layout.device[DEVICE_COLUMNS[key]].append(_Column(index, title, DEVICE_COLUMNS[key]))
        elif (match := _INDEXED.match(key)) and match.group(1) in INDEXED_COLUMNS:
            family, name = INDEXED_COLUMNS[match.group(1)]
            layout.indexed[family][int(match.group(2))][name] = _Column(index, title, name, int(match.group(2)))
        elif match := _INDEXED.match(title):
            unknown[match.group(1)].add(title)
        else:
            unknown[title].add(title)
    for base, titles in unknown.items():
        layout.ignored.extend([f"{base} N"] if len(titles) > 1 else sorted(titles))
    layout.device["kem"].sort(key=lambda c: c.title.casefold())
    return layout


def parse(text: str, catalog: Catalog, *, model: str | None = None, protocol: str | None = None) -> ParsedFile:
    """Read a whole file and check every row; whole-file problems raise Refused.

    ``model``/``protocol`` are for a file with no Device Type/Device Protocol
    column (the BAT phone format); with such a column they are refused.
    """
    records = list(csv.reader(io.StringIO(text, newline="")))
    if not records:
        raise Refused("bad_header", "the file is empty")
    layout = _layout(records[0])
    default_model = _default_model(layout, catalog, model, protocol)
    phones, errors, first_row = [], [], {}
    for row, record in enumerate(records[1:], 2):
        if not any(cell.strip() for cell in record):
            continue
        phone, row_errors = _phone(row, record, layout, catalog, default_model, protocol)
        if phone.mac in first_row:
            row_errors.append(RowError(row, phone.name_column, f"{phone.name} is also on row {first_row[phone.mac]}"))
        elif phone.mac:
            first_row[phone.mac] = row
        errors.extend(row_errors)
        if not row_errors:
            phones.append(phone)
    errors.extend(_intercom_conflicts(phones))
    errors.extend(_pool_conflicts(phones))
    bad = {e.row for e in errors}
    errors.sort(key=lambda e: e.row)
    return ParsedFile(layout.format, [p for p in phones if p.row not in bad], errors, layout.ignored, len(records) - 1)


def _default_model(layout: _Layout, catalog: Catalog, model: str | None, protocol: str | None) -> PhoneModel | None:
    for option, column, value in (("--model", "model", model), ("--protocol", "protocol", protocol)):
        if value and layout.device.get(column):
            raise Refused("bad_option", f"{option} is for a file with no {layout.device[column][0].title} column")
    if not layout.device.get("model") and not model:
        raise Refused("needs_model", f"a {FORMAT_TITLES[layout.format]} file names no device type: give the phone "
                                     "model (and protocol) of its phones")
    if not model:
        return None
    try:
        phone = catalog.model(model)
    except UnknownModel as exc:
        raise Refused("unknown_model", str(exc)) from None
    if protocol and protocol.upper() not in phone.protocols:
        raise Refused("bad_protocol", f"{phone.display_name} does not run {protocol.upper()}")
    return phone


def _phone(row: int, record: list[str], layout: _Layout, catalog: Catalog, default_model: PhoneModel | None,
           default_protocol: str | None) -> tuple[BatPhone, list[RowError]]:
    errors: list[RowError] = []

    def cell(column: _Column) -> str:
        return record[column.index].strip() if column.index < len(record) else ""

    def fail(column: _Column | str, message: str) -> None:
        errors.append(RowError(row, column if isinstance(column, str) else column.title, message))

    if any(c.strip() for c in record[layout.width:]):
        fail("", "more values than the header has columns")
    device_cols = {name: cols[0] for name, cols in layout.device.items() if cols and name != "kem"}
    name_col = device_cols["name"]
    mac = ""
    if not cell(name_col):
        fail(name_col, "missing")
    else:
        try:
            mac = normalize_mac(cell(name_col))
        except Refused as refusal:
            fail(name_col, refusal.message)
    phone_model = default_model
    if "model" in device_cols:
        text = cell(device_cols["model"])
        try:
            phone_model = catalog.model(text) if text else None
            if not text:
                fail(device_cols["model"], "missing")
        except UnknownModel:
            fail(device_cols["model"], f'unknown device type "{text}"')
    protocol = (cell(device_cols["protocol"]) if "protocol" in device_cols else default_protocol or "").upper()
    if phone_model is not None:
        protocol = protocol or phone_model.protocols[0]
        if protocol not in phone_model.protocols:
            fail(device_cols.get("protocol", ""), f"{phone_model.display_name} does not run {protocol}")
    phone = BatPhone(mac=mac, model=phone_model.key if phone_model else "", protocol=protocol, row=row,
                     name_column=name_col.title)
    for name in TEXT_FIELDS:
        if name in device_cols and cell(device_cols[name]):
            phone.device[name] = cell(device_cols[name])
    for name in ("user_locale", "network_locale"):  # the admin pages' "English United States" is the
        if name in phone.device:                      # config files' English_United_States
            phone.device[name] = "_".join(phone.device[name].split())
    dtg_cols = [device_cols[name] for _, name in datetime_group.BAT_COLUMNS if name in device_cols]
    try:
        phone.date_time = datetime_group.from_cells({c.field: cell(c) for c in dtg_cols})
    except Refused as refusal:
        fail(dtg_cols[0], refusal.message)
    for name in BOOL_FIELDS:
        if name in device_cols and cell(device_cols[name]):
            value = cell(device_cols[name]).casefold()
            if value not in _TRUE | _FALSE:
                fail(device_cols[name], f'"{cell(device_cols[name])}" is not t or f')
            phone.device[name] = value in _TRUE
    for name, limit in _NAME_LIMITS.items():
        if name in device_cols and (value := cell(device_cols[name])):
            if len(value) > limit:
                fail(device_cols[name], f"longer than {limit} characters")
            setattr(phone, name, value)
    if phone_model is not None and phone.template:
        _check_template(phone, phone_model, catalog, device_cols["template"], fail)
    if phone_model is not None:
        phone.kems = _kems(phone_model, [(c, cell(c)) for c in layout.device.get("kem", [])], catalog, fail)
    _lines(phone, layout, cell, fail)
    if phone_model is not None:
        _check_fit(phone, phone_model, fail)
    for n in sorted(layout.indexed["speed_dial"]):
        cols = layout.indexed["speed_dial"][n]
        if "target" in cols and cell(cols["target"]):
            phone.speed_dials.append((cell(cols["target"]), cell(cols["label"]) if "label" in cols else ""))
    return phone, errors


def _check_template(phone: BatPhone, model: PhoneModel, catalog: Catalog, column: _Column, fail) -> None:
    """C-4: a standard template belongs to one model and protocol ("Standard 8861 SIP")."""
    match = re.fullmatch(r"Standard (.+) (SIP|SCCP)", phone.template or "", re.IGNORECASE)
    if not match:
        return
    try:
        named = catalog.model(match.group(1))
    except UnknownModel:
        return
    if (named.key, match.group(2).upper()) != (model.key, phone.protocol):
        fail(column, f'"{phone.template}" is the standard template of another phone type '
                     f"(this row is a {model.display_name} {phone.protocol})")


def _kems(model: PhoneModel, values: list[tuple[_Column, str]], catalog: Catalog, fail) -> list[str]:
    """C-5: modules the model takes, of one type, no more than its maximum."""
    keys: list[str] = []
    for column, text in values:
        if text.casefold() in _EMPTY_KEM:
            continue
        try:
            kem = catalog.kem(text)
        except UnknownModel as exc:
            fail(column, str(exc))
            continue
        if kem.key not in model.kems:
            fail(column, f"a {model.display_name} takes no {kem.display_name}")
        elif keys and kem.key != keys[0]:
            fail(column, f"{kem.display_name} cannot be mixed with {catalog.kem(keys[0]).display_name} on one phone")
        elif len(keys) >= model.kems[kem.key]:
            fail(column, f"a {model.display_name} takes at most {model.kems[kem.key]} KEMs of type {kem.display_name}")
        else:
            keys.append(kem.key)
    return keys


def _lines(phone: BatPhone, layout: _Layout, cell, fail) -> None:
    seen: dict[tuple[str, str], str] = {}
    for family in ("line", "intercom"):
        for n in sorted(layout.indexed[family]):
            cols = layout.indexed[family][n]
            values = {name: cell(col) for name, col in cols.items()}
            pattern = values.get("pattern", "")
            if not pattern:
                if values.get("partition"):
                    fail(cols["partition"], "a route partition with no directory number")
                continue
            line = BatLine(pattern=pattern, intercom=family == "intercom", column=cols["pattern"].title,
                           **{k: v for k, v in values.items() if k in _LINE_TEXT})
            if not _DN.match(pattern):
                fail(cols["pattern"], f'"{pattern}" is not a directory number (up to 24 digits, * or #, '
                                      "after an optional + or \\+)")
            if len(line.partition) > 64:
                fail(cols["partition"], "longer than 64 characters")
            for name in ("max_calls", "busy_trigger"):
                if values.get(name):
                    if not re.fullmatch(r"[0-9]{1,3}", values[name]) or not 1 <= int(values[name]) <= 200:
                        fail(cols[name], f'"{values[name]}" is not a whole number from 1 to 200')
                    else:
                        setattr(line, name, int(values[name]))
            key = (line.pattern, line.partition)
            if key in seen:
                fail(cols["pattern"], f"{dn_text(*key)} is already on {seen[key]} of this phone")
            seen[key] = cols["pattern"].title
            phone.lines.append(line)


def dn_text(pattern: str, partition: str) -> str:
    """How a message names a DN: ``1001 in Internal_PT``, ``1001 (no partition)``."""
    return f"{pattern} in {partition}" if partition else f"{pattern} (no partition)"


def _check_fit(phone: BatPhone, model: PhoneModel, fail) -> None:
    """C-1: lines beyond the line keys go to the KEM buttons; beyond both they cannot be placed."""
    kem_buttons = model.kem_capacity(phone.kems[0], len(phone.kems)) if phone.kems else 0
    room = model.line_keys + kem_buttons
    if len(phone.lines) > room:
        where = f"{kem_buttons} KEM buttons" if kem_buttons else "no KEM"
        fail(phone.lines[room].column, f"{len(phone.lines)} lines do not fit: a {model.display_name} has "
                                       f"{model.line_keys} line keys and {where}")


def pool_of(phone: BatPhone) -> str:
    return phone.device.get("device_pool", "Default")


def _pool_conflicts(phones: list[BatPhone]) -> list[RowError]:
    """T-7: the rows giving one device pool a date/time group give it the same one."""
    first: dict[str, BatPhone] = {}
    errors = []
    for phone in phones:
        if phone.date_time is None:
            continue
        other = first.setdefault(pool_of(phone), phone)
        if other.date_time != phone.date_time:
            errors.append(RowError(phone.row, "Date/Time Group", f"device pool {pool_of(phone)} has another "
                                                                  f"date/time group on row {other.row}"))
    return errors


def _intercom_conflicts(phones: list[BatPhone]) -> list[RowError]:
    """An intercom DN is only ever an intercom line (C-2)."""
    kind: dict[tuple[str, str], tuple[bool, int]] = {}
    errors = []
    for phone in phones:
        for line in phone.lines:
            key = (line.pattern, line.partition)
            intercom, row = kind.setdefault(key, (line.intercom, phone.row))
            if intercom != line.intercom:
                what = "an intercom" if intercom else "a normal"
                errors.append(RowError(phone.row, line.column, f"{dn_text(*key)} is {what} line on row {row}"))
    return errors


def profile_fields(name: str) -> dict[str, Any]:
    """C-3's four inputs of a security profile a BAT file names but the site lacks: what its name says.

    CUCM's BAT files carry a profile's name only. Its mode is the word Encrypted or
    Authenticated (not after "Non"/"Not"), else Non-Secure; "TFTP" means an encrypted
    TFTP config; "EC" an EC-preferred key order (RSA backup); "UDP", "TCP" or "TLS" the
    transport, else TLS for a secure mode and TCP otherwise. So "Encrypted TFTP EC" keeps all
    four and maps to Encrypted - Device_TFTP, not to plain Encrypted.
    """
    words = re.split(r"[\s_\-/]+", name.casefold())
    mode = "non_secure"
    for candidate in ("encrypted", "authenticated"):  # "Non-Encrypted" is not encrypted
        if any(w == candidate and (i == 0 or words[i - 1] not in ("non", "not")) for i, w in enumerate(words)):
            mode = candidate
            break
    transport = next((t for t in ("tls", "udp", "tcp") if t in words), "tls" if mode != "non_secure" else "tcp")
    return dict(mode=mode, tftp_encrypted=mode == "encrypted" and "tftp" in words, transport=transport,
                key_order="ec_preferred_rsa_backup" if "ec" in words else "rsa")
