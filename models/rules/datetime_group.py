"""A device pool's date/time group (T-7): what a phone's clock follows. Pure, no storage.

A CUCM device pool names a date/time group: a time zone, a date template and the
phones' NTP servers. ``SEP<MAC>.cnf.xml`` carries it under
``devicePool/dateTimeSetting`` (docs/rules.md, "Config file values"). A pool the site
holds no group for gets ``DEFAULT``, which is what every file said before: CUCM's
``CMLocal`` group on Greenwich time with no NTP server.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from models.rules.refusals import Refused

# CUCM lets a date/time group name up to 4 phone NTP references (its admin guide's limit);
# a server name fits in 50 characters (usecallmanagernz/usecallmanagernz.github.io sepmac-cnf-xml.html, ntp/name).
MAX_NTP_SERVERS = 4
NTP_NAME_LIMIT = 50
# The three orders CUCM offers, each field once; - . or / between them; Y or YY (2 or 4
# digit year); a trailing A for a 12-hour clock (the same notes, dateTemplate).
_TEMPLATE = re.compile(r"^(?:D(?P<a>[-./])M(?P=a)|M(?P<b>[-./])D(?P=b))YY?A?$|^YY?(?P<c>[-./])M(?P=c)DA?$")
_HOST = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9.:-]*[A-Za-z0-9])?$")


@dataclass(frozen=True)
class DateTimeGroup:
    name: str = "CMLocal"
    time_zone: str = "Greenwich Standard Time"  # the name phones read in timeZone
    olson_time_zone: str = "Etc/GMT"  # olsonTimeZone, as CUCM 12.5 writes beside it
    date_template: str = "M/D/Y"
    ntp_servers: tuple[str, ...] = field(default_factory=tuple)

    def public(self) -> dict[str, object]:
        """What the doors show: the fields, the NTP servers as a list."""
        return {"name": self.name, "time_zone": self.time_zone, "olson_time_zone": self.olson_time_zone,
                "date_template": self.date_template, "ntp_servers": list(self.ntp_servers)}

    def summary(self) -> str:
        """One line for the admin pages and the CLI: ``Central (Central Standard/Daylight Time,
        M/D/YA; NTP 10.0.0.1, 10.0.0.2)``."""
        ntp = f"; NTP {', '.join(self.ntp_servers)}" if self.ntp_servers else "; no NTP server"
        return f"{self.name} ({self.time_zone}, {self.date_template}{ntp})"


DEFAULT = DateTimeGroup()


def checked(name: str, time_zone: str, olson_time_zone: str, date_template: str,
            ntp_servers: list[str] | tuple[str, ...]) -> DateTimeGroup:
    """A date/time group from what an admin or a file gave; Refused("bad_datetime_group") says
    which part is wrong."""
    def refuse(message: str) -> Refused:
        return Refused("bad_datetime_group", f"date/time group {name or '(no name)'}: {message}")

    name, time_zone, olson_time_zone = name.strip(), time_zone.strip(), olson_time_zone.strip()
    if not name or len(name) > 50:
        raise refuse("a name of 1 to 50 characters is needed")
    if not time_zone or len(time_zone) > 64:
        raise refuse("a time zone of 1 to 64 characters is needed")
    if len(olson_time_zone) > 64 or " " in olson_time_zone:  # empty: unknown, left empty in the file
        raise refuse(f'"{olson_time_zone}" is not an Olson time zone name (like America/Chicago)')
    if not _TEMPLATE.match(date_template.strip()):
        raise refuse(f'"{date_template}" is not a date template (D/M/Y, M/D/Y or Y/M/D, with -, . or /, '
                     "YY for a 4-digit year, A for a 12-hour clock)")
    servers = tuple(s.strip() for s in ntp_servers if s.strip())
    if len(servers) > MAX_NTP_SERVERS:
        raise refuse(f"at most {MAX_NTP_SERVERS} NTP servers")
    for server in servers:
        if len(server) > NTP_NAME_LIMIT or not _HOST.match(server):
            raise refuse(f'"{server}" is not an NTP server name or address (up to {NTP_NAME_LIMIT} characters)')
    if len(set(servers)) != len(servers):
        raise refuse("an NTP server is named twice")
    return DateTimeGroup(name, time_zone, olson_time_zone, date_template.strip(), servers)


def split_servers(text: str) -> list[str]:
    """``10.0.0.1; ntp.example.org`` (a form field, a BAT cell) -> its server names."""
    return [part.strip() for part in re.split(r"[;,\s]+", text) if part.strip()]


# A BAT phone file's columns for the row's device pool's group (T-7; the names are decided here:
# CUCM exports date/time groups in a file of their own, which this product does not read).
BAT_COLUMNS = [("Date/Time Group", "dtg_name"), ("Time Zone", "dtg_time_zone"), ("Olson Time Zone", "dtg_olson"),
               ("Date Template", "dtg_date_template"), ("Phone NTP References", "dtg_ntp")]


def from_cells(cells: dict[str, str]) -> DateTimeGroup | None:
    """A BAT row's group (``BAT_COLUMNS``' fields -> their cells); None when every cell is empty.
    An empty Date Template is M/D/Y; NTP servers are separated by ``;``."""
    if not any(v.strip() for v in cells.values()):
        return None
    return checked(cells.get("dtg_name", ""), cells.get("dtg_time_zone", ""), cells.get("dtg_olson", ""),
                   cells.get("dtg_date_template", "").strip() or "M/D/Y", split_servers(cells.get("dtg_ntp", "")))


def to_cells(group: DateTimeGroup | None) -> dict[str, str]:
    if group is None:
        return {}
    return {"dtg_name": group.name, "dtg_time_zone": group.time_zone, "dtg_olson": group.olson_time_zone,
            "dtg_date_template": group.date_template, "dtg_ntp": ";".join(group.ntp_servers)}
