"""C-13: which migration records a report shows: by outcome, door, actor and date range.

Every door (the admin UI's report, the API's /records, the CLI's ``report``)
reads its filter from text through ``record_filter``, so a bad value is
refused with the same words everywhere. Dates are UTC calendar days, both ends
included.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone

from models.rules.refusals import Refused

OUTCOMES = ("migrated", "provisioned", "refused", "abandoned", "undone")
DOORS = ("admin", "api", "cli", "ivr", "screen", "wave")


@dataclass(frozen=True)
class RecordFilter:
    outcome: str | None = None
    door: str | None = None
    actor: str | None = None  # a part of the actor, any case: "admin:" finds every administrator
    since: date | None = None
    until: date | None = None

    @property
    def start(self) -> datetime | None:
        return datetime.combine(self.since, time(tzinfo=timezone.utc)) if self.since else None

    @property
    def end(self) -> datetime | None:
        """The first instant after ``until``."""
        return datetime.combine(self.until + timedelta(days=1), time(tzinfo=timezone.utc)) if self.until else None

    def query(self) -> dict[str, str]:
        """The filter as the query string a door's next link or download keeps."""
        values = {"outcome": self.outcome, "door": self.door, "actor": self.actor,
                  "since": self.since.isoformat() if self.since else None,
                  "until": self.until.isoformat() if self.until else None}
        return {k: v for k, v in values.items() if v}


def _day(name: str, text: str) -> date | None:
    text = (text or "").strip()
    if not text:
        return None
    try:
        return date.fromisoformat(text) if len(text) == 10 else _bad(name)
    except ValueError:
        return _bad(name)


def _bad(name: str):
    raise Refused("bad_filter", f'"{name}": a day as YYYY-MM-DD (UTC)', field=name)


def record_filter(outcome: str = "", door: str = "", actor: str = "", since: str = "", until: str = "") -> RecordFilter:
    """The filter from a door's text fields; empty: no filter on that field."""
    outcome, door, actor = (outcome or "").strip(), (door or "").strip(), (actor or "").strip()
    if outcome and outcome not in OUTCOMES:
        raise Refused("bad_filter", f'"outcome": one of {", ".join(OUTCOMES)}', field="outcome")
    if door and door not in DOORS:
        raise Refused("bad_filter", f'"door": one of {", ".join(DOORS)}', field="door")
    if len(actor) > 100:
        raise Refused("bad_filter", '"actor": at most 100 characters', field="actor")
    start, end = _day("since", since), _day("until", until)
    if start and end and start > end:
        raise Refused("bad_filter", '"since" is after "until"', field="since")
    return RecordFilter(outcome or None, door or None, actor or None, start, end)
