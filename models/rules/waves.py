"""W-1..W-3, the pure side: a wave's CSV, its names, a row's states, and when a re-planned row is held.

Decided here: the CSV's first row names the columns ``Old Device``, ``New MAC``
(both needed) and ``Model``, ``Template``, ``Description`` (optional; a row with
neither model nor template keeps the old phone's model, as Migrate Phone needs one
of them); names are matched without regard to case. Rows are numbered as a
spreadsheet shows them (the header is row 1). A file of more than ``MAX_ROWS``
rows is refused whole. An errors file is the refused rows as uploaded plus
``Row``, ``Column`` and ``Error`` (``models.rules.tasks_csv.errors_csv``).
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass, field
from typing import Iterable, Mapping, Sequence

from models.rules.names import device_name_for_mac, normalize_device_name
from models.rules.refusals import Refused
from models.rules.tasks_csv import ParsedUpload, RowError, errors_csv, write_csv

MAX_ROWS = 1000  # W-1
COLUMNS = ("Old Device", "New MAC")
OPTIONAL = ("Model", "Template", "Description")
STATES = ("staged", "applying", "applied", "confirmed", "failed", "cancelled", "held")
REPORT_COLUMNS = ("Row", "Old Device", "New Device", "Model", "Template", "State", "Reason", "Record", "Plan")
_NAME = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


@dataclass(frozen=True)
class WaveLine:
    """One CSV row that passed the checks the file alone can make."""

    row: int
    old_device: str
    new_device: str  # SEP + MAC
    model: str | None = None
    template: str | None = None
    description: str | None = None


@dataclass
class ParsedWave:
    lines: list[WaveLine] = field(default_factory=list)
    upload: ParsedUpload = field(default_factory=ParsedUpload)  # the cells and errors, for the errors CSV


def check_wave_name(name: str) -> str:
    name = str(name or "")
    if not _NAME.match(name):
        raise Refused("bad_wave_name", f'"{name}" is not a wave name: use 1 to 64 letters, digits, "-", "_" or "."')
    return name


def parse_wave(text: str) -> ParsedWave:
    """W-1: every row checked on its own; a missing column or too many rows refuse the file."""
    reader = csv.reader(io.StringIO(text.lstrip("\ufeff")))
    header = tuple(h.strip() for h in next(reader, ()))
    index = {h.lower(): i for i, h in enumerate(header)}
    missing = [c for c in COLUMNS if c.lower() not in index]
    if missing:
        raise Refused("bad_csv", f"the file has no {', '.join(missing)} column: the first row names the columns "
                                 f"({', '.join(COLUMNS + OPTIONAL)})")
    parsed = ParsedWave(upload=ParsedUpload(header=header))
    seen_old: dict[str, int] = {}
    seen_new: dict[str, int] = {}
    for number, record in enumerate(reader, 2):
        if not any(cell.strip() for cell in record):
            continue
        if len(parsed.upload.cells) >= MAX_ROWS:
            raise Refused("too_many_rows", f"a wave holds at most {MAX_ROWS} rows")
        cells = {h: record[i].strip() if i < len(record) else "" for i, h in enumerate(header)}
        parsed.upload.cells[number] = cells

        def get(column: str) -> str:
            i = index.get(column.lower())
            return record[i].strip() if i is not None and i < len(record) else ""

        errors = []
        old = new = None
        try:
            old = normalize_device_name(get("Old Device"))
            if not old:
                raise Refused("bad_rows", "give the old phone's device name")
        except Refused as refusal:
            errors.append(RowError(number, "Old Device", refusal.message))
        try:
            new = device_name_for_mac(get("New MAC"))
        except Refused as refusal:
            errors.append(RowError(number, "New MAC", refusal.message))
        if old and old in seen_old:
            errors.append(RowError(number, "Old Device", f"{old} is also on row {seen_old[old]}"))
        if new and new in seen_new:
            errors.append(RowError(number, "New MAC", f"{new} is also on row {seen_new[new]}"))
        if old and new and old == new:
            errors.append(RowError(number, "New MAC", "the new MAC is the old phone's own"))
        if errors:
            parsed.upload.errors.extend(errors)
            continue
        seen_old[old], seen_new[new] = number, number
        parsed.lines.append(WaveLine(number, old, new, get("Model") or None, get("Template") or None,
                                     get("Description") or None))
    return parsed


def held_for(staged_losses: Sequence[str], losses_now: Sequence[str]) -> list[str]:
    """W-2: what a re-planned row loses now that it did not lose when staged; any -> the row is held."""
    before = set(staged_losses)
    return [loss for loss in losses_now if loss not in before]


def row_state(state: str, confirmed: bool) -> str:
    """W-3: an applied row whose new phone registered with its new line 1 (R-6) shows as confirmed."""
    return "confirmed" if state == "applied" and confirmed else state


def counts(states: Iterable[str]) -> dict[str, int]:
    found = {state: 0 for state in STATES}
    for state in states:
        found[state] = found.get(state, 0) + 1
    return found


def wave_errors_csv(header: Sequence[str], cells: Mapping[int, Mapping[str, str]], errors: Iterable[RowError]) -> str:
    return errors_csv(ParsedUpload(header=tuple(header), cells=dict(cells)), errors)


def report_csv(rows: Iterable[Sequence[object]]) -> str:
    return write_csv(REPORT_COLUMNS, rows)
