"""F-6 bulk tasks, the file side: names, the upload CSV, row checks, the CSV files out.

Pure functions with no storage, tested alone; ``models.services.tasks`` calls them and
keeps the results. Columns, names and loads come from the English digest at
``docs/sources.md``, "Control Hub firmware migration".

Decided here: rows are numbered as a spreadsheet shows them (the header is
row 1, the first device row 2), so an admin finds the row the error names. An
errors file is the refused rows as uploaded plus ``Row``, ``Column`` and
``Error``; columns the upload does not know are ignored, so the fixed file is
uploaded again as it is. Locations "must exist": the caller says which exist.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping

from models.rules.catalog import Catalog, UnknownModel
from models.rules.firmware import Direction, parse_pid, target_load
from models.rules.names import normalize_mac
from models.rules.refusals import Refused

MAX_DEVICES = 1000  # digest: at most 1000 devices per task
MAX_ROWS_READ = 10 * MAX_DEVICES  # a bigger file is refused whole, not reported row by row
KINDS = ("license_and_device", "license_only")
COLUMNS = ("Type", "Username", "Phone Number", "Extension", "Device Type", "Model", "MAC Address", "Location",
           "Calling plan")
LICENSE_ONLY_COLUMNS = ("Model", "MAC Address")
ERROR_COLUMNS = ("Row", "Column", "Error")

_TASK_NAME = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
_FILE_NAME = re.compile(r"^[A-Za-z0-9_-][A-Za-z0-9._-]{0,254}$")
_E164 = re.compile(r"^\+[1-9]\d{1,14}$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_EXTENSION = re.compile(r"^\d{2,10}$")
_BARE_MODEL = re.compile(r"^\d{4}(NR)?$", re.I)


def check_task_name(name: str) -> str:
    """F-6: task names are unique (the table says so) and have no spaces: letters, digits, ``-``, ``_``, ``.``."""
    name = str(name or "")
    if not _TASK_NAME.match(name):
        raise Refused("bad_task_name", f'"{name}" is not a task name: use 1 to 64 letters, digits, "-", "_" '
                                       'or "." and no spaces (like 8800-01-01-21)')
    return name


def check_upload_file_name(name: str) -> str:
    """Digest: upload file names are letters, digits, ``-``, ``.``, ``_``, never start with a dot, one dot at most."""
    base = re.split(r"[\\/]", str(name or ""))[-1]
    if not _FILE_NAME.match(base) or base.count(".") > 1:
        raise Refused("bad_file_name", f'"{base}" cannot be uploaded: a file name has only letters, digits, "-", '
                                       '"_" and one "." at most, and does not start with a dot (like devices.csv)')
    return base


@dataclass(frozen=True)
class RowError:
    row: int  # as a spreadsheet shows it: the header is row 1
    column: str  # "" when the whole row is refused
    message: str


@dataclass(frozen=True)
class CsvRow:
    """One device row that passed every check the file alone can make."""

    row: int
    cells: Mapping[str, str]  # as uploaded, for the errors file
    model: str  # the firmware model key: "8851", "8832NR"
    pid: str  # the PID from the file, else one made from the model and the direction
    mac: str  # 12 upper-case hex digits
    account_type: str = ""  # USER | WORKSPACE; "" for license only
    username: str = ""
    phone_number: str = ""
    extension: str = ""
    device_type: str = ""
    location: str = ""
    calling_plan: bool = False


@dataclass
class ParsedUpload:
    rows: list[CsvRow] = field(default_factory=list)
    errors: list[RowError] = field(default_factory=list)
    cells: dict[int, Mapping[str, str]] = field(default_factory=dict)  # every row as uploaded, by row number
    header: tuple[str, ...] = ()


def resolve_model(text: str, direction: Direction, catalog: Catalog, facts: Mapping[str, Any]) -> tuple[str, str]:
    """The CSV's Model (``8851``, ``CP-8851-K9=``, ``Cisco 8851``) -> (model key, PID); ValueError says why not.

    Supported: a model of the firmware tables for the direction, or (to MPP) one
    F-1 names as never eligible, kept so the admin sees why it is ineligible."""
    raw = str(text or "").strip()
    if not raw:
        raise ValueError("Model is required")
    try:
        key = parse_pid(raw)[0]
        pid = None if _BARE_MODEL.match(raw) else raw.upper()
    except ValueError:
        try:
            key, pid = parse_pid(catalog.model(raw).key)[0], None
        except (UnknownModel, ValueError):
            raise ValueError(f'unknown phone model "{raw}"') from None
    direction = Direction(direction)
    never = direction is Direction.E2M and key in facts["rules"]["never_e2m"]
    if target_load(key, direction, facts=facts) is None and not never:
        known = key in facts["models"] or _in_catalog(catalog, key)
        if not known:
            raise ValueError(f'unknown phone model "{raw}"')
        raise ValueError(f"the {key} is not supported for migration ({_supported(direction, facts)})")
    if pid is None:
        pid = f"CP-{key}-3PCC-K9=" if direction is Direction.M2E else f"CP-{key}-K9="
    return key, pid


def _in_catalog(catalog: Catalog, key: str) -> bool:
    try:
        catalog.model(key)
    except UnknownModel:
        return False
    return True


def _supported(direction: Direction, facts: Mapping[str, Any]) -> str:
    models = sorted(k for k in facts["models"] if target_load(k, direction, facts=facts))
    return "supported: " + ", ".join(models)


def _unescape(value: str) -> str:
    """Undo ``safe_cell``: an errors file comes back with its cells as we wrote them."""
    return value[1:] if value[:1] == "'" and value[1:2] in ("=", "+", "-", "@") else value


def parse_upload(text: str, kind: str, direction: Direction, catalog: Catalog, facts: Mapping[str, Any],
                 locations: Iterable[str]) -> ParsedUpload:
    """F-6: check every row of an upload on its own (the task's own limits are ``models.services.tasks``').

    A missing column refuses the whole file; a bad row is a ``RowError`` per bad
    cell, with the row number and the column."""
    if kind not in KINDS:
        raise Refused("bad_task_kind", f'"{kind}" is not a task kind ({", ".join(KINDS)})')
    reader = csv.reader(io.StringIO(text.lstrip("\ufeff")))
    header = tuple(h.strip() for h in next(reader, ()))
    wanted = LICENSE_ONLY_COLUMNS if kind == "license_only" else COLUMNS
    index = {h.lower(): i for i, h in enumerate(header)}
    missing = [c for c in wanted if c.lower() not in index]
    if missing:
        raise Refused("bad_csv", f"the file has no {', '.join(missing)} column: the first row names the columns "
                                 f"({', '.join(wanted)})")
    known = {loc.lower(): loc for loc in locations}
    parsed = ParsedUpload(header=header)
    for number, record in enumerate(reader, 2):
        if not any(cell.strip() for cell in record):
            continue  # blank lines are not devices
        if number > MAX_ROWS_READ + 1:
            raise Refused("too_many_rows", f"the file has more than {MAX_ROWS_READ} rows; a task holds at most "
                                           f"{MAX_DEVICES} devices")
        cells = {h: _unescape(record[i].strip()) if i < len(record) else "" for i, h in enumerate(header)}
        parsed.cells[number] = cells
        get = {c: cells[header[index[c.lower()]]] for c in wanted}
        row, errors = _check_row(number, get, kind, direction, catalog, facts, known)
        parsed.errors.extend(errors)
        if row is not None:
            parsed.rows.append(CsvRow(cells=cells, **row))
    return parsed


def _check_row(number: int, get: Mapping[str, str], kind: str, direction: Direction, catalog: Catalog,
               facts: Mapping[str, Any], locations: Mapping[str, str]) -> tuple[dict | None, list[RowError]]:
    errors: list[RowError] = []

    def bad(column: str, message: str) -> None:
        errors.append(RowError(number, column, message))

    row: dict[str, Any] = {"row": number}
    try:
        row["model"], row["pid"] = resolve_model(get["Model"], direction, catalog, facts)
    except ValueError as exc:
        bad("Model", str(exc))
    if not get["MAC Address"]:
        bad("MAC Address", "MAC Address is required")
    else:
        try:
            row["mac"] = normalize_mac(get["MAC Address"])
        except Refused as exc:
            bad("MAC Address", f"{exc.message}, like 00CCFC123456 or 00:CC:FC:12:34:56")
    if kind == "license_only":
        return (row if not errors else None), errors
    account = get["Type"].upper()
    row["account_type"] = account
    if account not in ("USER", "WORKSPACE"):
        bad("Type", f'"{get["Type"]}" is not a Type: USER or WORKSPACE')
    row["username"] = get["Username"]
    if not get["Username"]:
        bad("Username", "Username is required: the user's e-mail, or the workspace name")
    elif account == "USER" and not _EMAIL.match(get["Username"]):
        bad("Username", f'"{get["Username"]}" is not an e-mail address: a USER is named by their e-mail')
    row["phone_number"], row["extension"] = get["Phone Number"], get["Extension"]
    if account == "USER":
        if get["Phone Number"]:
            bad("Phone Number", "a USER has no Phone Number here: leave it empty (the user's own number is used)")
        if get["Extension"]:
            bad("Extension", "a USER has no Extension here: leave it empty (the user's own extension is used)")
    elif account == "WORKSPACE":
        if not _E164.match(get["Phone Number"]):
            bad("Phone Number", f'"{get["Phone Number"]}" is not an E.164 number (like +14085551234): '
                                "a WORKSPACE needs one")
        if get["Extension"] and not _EXTENSION.match(get["Extension"]):
            bad("Extension", f'"{get["Extension"]}" is not an extension (2 to 10 digits)')
    row["device_type"] = get["Device Type"].upper() or "IP"
    if row["device_type"] != "IP":
        bad("Device Type", f'"{get["Device Type"]}" is not a Device Type: IP')
    if not get["Location"]:
        bad("Location", "Location is required")
    elif get["Location"].lower() not in locations:
        bad("Location", f'no location named "{get["Location"]}"')
    else:
        row["location"] = locations[get["Location"].lower()]
    plan = get["Calling plan"].lower()
    if plan not in ("", "true", "false"):
        bad("Calling plan", f'"{get["Calling plan"]}" is not a Calling plan: True or False')
    row["calling_plan"] = plan == "true"
    if row["calling_plan"] and account == "USER":
        bad("Calling plan", "a Calling plan is only for a new WORKSPACE: leave it False for a USER")
    return (row if not errors else None), errors


def safe_cell(value: object) -> str:
    """Spreadsheet formula injection: a cell never starts with = + - @ (an E.164 number stays as it is)."""
    text = "" if value is None else str(value)
    if _E164.match(text):
        return text
    return "'" + text if text[:1] in ("=", "+", "-", "@") else text


def write_csv(header: Iterable[str], rows: Iterable[Iterable[object]]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(list(header))
    for row in rows:
        writer.writerow([safe_cell(v) for v in row])
    return out.getvalue()


def errors_csv(parsed: ParsedUpload, errors: Iterable[RowError]) -> str:
    """The refused rows as uploaded plus Row, Column and Error: fix them and upload the file again."""
    by_row: dict[int, list[RowError]] = {}
    for error in errors:
        by_row.setdefault(error.row, []).append(error)
    header = [h for h in parsed.header if h not in ERROR_COLUMNS]
    rows = []
    for number in sorted(by_row):
        cells = parsed.cells.get(number, {})
        found = by_row[number]
        rows.append([cells.get(h, "") for h in header] + [
            number, "; ".join(dict.fromkeys(e.column for e in found if e.column)), "; ".join(e.message for e in found)])
    return write_csv(header + list(ERROR_COLUMNS), rows)


def export_group(model: str, direction: Direction, facts: Mapping[str, Any]) -> tuple[str, str] | None:
    """Digest, bulk update by custom file (group 2, one model family per file): (file group, phone load).

    To MPP the digest's loads: 7832 -> sip7832..., other 78xx -> sip78xx...,
    8832 -> sip8832..., 8845/8865 -> sip8845_65..., other 88xx -> sip88xx...
    (the ``cloud_load`` facts); to Enterprise, Table 7's. None: no load."""
    direction = Direction(direction)
    load = target_load(model, direction, cloud=direction is Direction.E2M, facts=facts)
    return (load.split(".", 1)[0], load) if load else None


def export_file_name(task_name: str, group: str) -> str:
    """A bulk-update file name the upload rule accepts: the task's dots become ``_``."""
    return check_upload_file_name(f"{task_name.replace('.', '_')}_{group}.csv")
