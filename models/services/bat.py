"""CUCM BAT phone files in and out of the site: import all or nothing, export.

Import (``import_bat``): every row is checked first, over the whole file, the
file's own rules (``models.rules.bat_format``) then the site's (phone already here,
intercom DN used as a normal line); one bad row and nothing is imported, and
``BatRejected`` lists every bad row. Otherwise everything goes in ONE
transaction through ``models.services.site`` (create_user, create_device: their checks
run again on every phone):

- a DN is created when missing; a DN on several phones is a shared line (C-1);
  a new DN takes its description and alerting name from the first row naming it;
  an existing DN is left as it is.
- an owner is created when missing, with no PIN and, as primary extension,
  line 1 of the first phone the file gives them (A-2 finds them by it).
- a button template is used by name when it exists; else created: "Standard ..."
  is a standard template, "Universal Device Template ..." the universal layout,
  anything else custom (C-4). An empty cell means the model's standard template.
- a security profile is used by name when it exists (the universal profiles of
  C-3 are known by name); else created with the four inputs of C-3 its name
  says (``bat_format.profile_fields``: mode, TFTP-encrypted, transport, key order).
- KEM modules (C-5), Extension Mobility (C-8) and CTI control (C-9) flags.

Export (``export_bat``) writes every phone back in either format; importing an
All Details export into an empty site gives the same phones, lines (intercom
lines after the others), speed dials, owners, templates, profile names and
KEMs, and each device pool's date/time group (T-7: All Details only, in five columns of its
own after CUCM's). Not carried by either format: BLF buttons, product-specific parameters
(new phones take the model's defaults), users' PINs, profiles and primary
extensions, registration and migration state. The BAT phone format also loses
the device type, template, security profile, KEMs and intercom lines.
"""

from __future__ import annotations

import io
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Callable, TextIO

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select
from tqdm import tqdm

from models.rules import bat_format
from models.rules.bat_format import (
    ALL_DETAILS,
    BAT,
    FORMAT_TITLES,
    BatLine,
    BatPhone,
    RowError,
)
from models.rules.bat_write import write_phones
from models.rules.catalog import Catalog, default_catalog, standard_template_name
from models.rules.refusals import Refused
from models.rules.security import UNIVERSAL_PROFILES
from models.services.site import (
    LineSpec,
    create_device,
    create_user,
    get_or_create_security_profile,
    get_or_create_template,
    primary_extension_owner,
)
from models.storage.database import Database
from models.storage.devicepools import date_time_groups, save_date_time_group
from models.storage.queries import in_chunks
from models.tables.devices import Device, KemModule
from models.tables.lines import DirectoryNumber, FeatureButton, LineAppearance
from models.tables.templates import PhoneButtonTemplate, SecurityProfile
from models.tables.users import EndUser

__all__ = ["ALL_DETAILS", "BAT", "MAX_FILE_BYTES", "BatRejected", "ImportSummary", "Progress", "RowError", "export_bat",
           "export_text", "import_bat", "site_phones"]

MAX_FILE_BYTES = 10 * 1024 * 1024  # what a door accepts: an All Details export of 1000 phones is under 2 MB
Progress = Callable[[int, int], None]  # (phones created so far, phones in the file)


class BatRejected(Refused):
    """The file has bad rows: nothing was imported. ``errors`` has every one, by row."""

    def __init__(self, errors: list[RowError]) -> None:
        super().__init__("bad_rows", f"{_count(len({e.row for e in errors}), 'bad row')} in the file: "
                                     "nothing was imported")
        self.errors = errors

    def lines(self) -> list[str]:
        """One line per bad row: ``row 7, MAC ADDRESS: ...; Device Type: ...``."""
        by_row: dict[int, list[RowError]] = defaultdict(list)
        for error in self.errors:
            by_row[error.row].append(error)
        return [str(errs[0]) + "".join(f"; {e.column}: {e.message}" if e.column else f"; {e.message}"
                                       for e in errs[1:]) for _, errs in sorted(by_row.items())]


@dataclass
class ImportSummary:
    format: str
    devices: int = 0
    users_created: int = 0
    dns_created: int = 0
    shared_lines: int = 0  # DNs of the file on more than one phone
    templates_created: int = 0
    security_profiles_created: int = 0
    ignored_columns: list[str] = field(default_factory=list)
    dry_run: bool = False

    def __str__(self) -> str:
        verb = "would import" if self.dry_run else "imported"
        text = (f"{verb} {_count(self.devices, 'phone')} ({FORMAT_TITLES[self.format]} format); created: "
                f"{_count(self.users_created, 'user')}, {_count(self.dns_created, 'directory number')} "
                f"({_count(self.shared_lines, 'shared line')} in the file), "
                f"{_count(self.templates_created, 'button template')}, "
                f"{_count(self.security_profiles_created, 'security profile')}; "
                f"{_count(len(self.ignored_columns), 'column')} ignored")
        return text + (" (dry run: nothing changed)" if self.dry_run else "")


def _count(n: int, thing: str) -> str:
    return f"{n} {thing}{'s' * (n != 1)}"


def import_bat(db: Database, data: bytes | str, *, model: str | None = None, protocol: str | None = None,
               dry_run: bool = False, progress: TextIO | None = None, on_progress: Progress | None = None,
               catalog: Catalog | None = None) -> ImportSummary:
    """Import a BAT phone file all or nothing; BatRejected (a Refused) lists every bad row.

    ``model``/``protocol``: the phones' type, for a file without a Device Type
    column (the BAT phone format). ``progress``: where a progress bar goes,
    shown only when that stream is a terminal (the CLI). ``on_progress(done,
    total)``: told (0, total) once every row passed its checks, then after
    each phone is created (the admin UI's bar); both count the same loop.
    ``dry_run``: check and apply, then roll back.
    """
    catalog = catalog or default_catalog()
    parsed = bat_format.parse(bat_format.decode(data), catalog, model=model, protocol=protocol)
    with db.session() as session:
        errors = parsed.errors + _site_errors(session, parsed.phones)
        if errors:
            raise BatRejected(sorted(errors, key=lambda e: e.row))
        summary = ImportSummary(parsed.format, ignored_columns=parsed.ignored_columns, dry_run=dry_run)
        try:
            _apply(session, parsed.phones, catalog, summary, progress, on_progress)
        except IntegrityError:
            # Another writer (PostgreSQL) added one of these phones, DNs or users since the checks.
            raise Refused("bat_conflict", "the site changed while the file was imported: nothing was imported; "
                                          "try again") from None
        if dry_run:
            session.rollback()
    return summary




def _site_errors(session: Session, phones: list[BatPhone]) -> list[RowError]:
    errors = []
    taken = _existing_names(session, Device.name, (p.name for p in phones))
    intercom = _existing_dns(session, phones)
    for phone in phones:
        if phone.name in taken:
            errors.append(RowError(phone.row, phone.name_column, f"a phone named {phone.name} already exists"))
        for line in phone.lines:
            known = intercom.get((line.pattern, line.partition))
            if known is not None and known != line.intercom:
                what = "an intercom" if known else "a normal"
                errors.append(RowError(phone.row, line.column, f"{bat_format.dn_text(line.pattern, line.partition)} "
                                                                f"is {what} directory number already"))
    return errors + _pool_errors(session, phones)


def _pool_errors(session: Session, phones: list[BatPhone]) -> list[RowError]:
    """T-7: a row may give a device pool the site knows only the date/time group it has."""
    given = [p for p in phones if p.date_time is not None]
    known = date_time_groups(session, (bat_format.pool_of(p) for p in given))
    return [RowError(p.row, "Date/Time Group", f"device pool {bat_format.pool_of(p)} has the date/time group "
                                               f"{known[bat_format.pool_of(p)].summary()} here")
            for p in given if bat_format.pool_of(p) in known and known[bat_format.pool_of(p)] != p.date_time]


def _existing_dns(session: Session, phones: list[BatPhone]) -> dict[tuple[str, str], bool]:
    """(pattern, partition) -> is_intercom, for the file's DNs already in the site."""
    found = {}
    for chunk in in_chunks(sorted(set(l.pattern for p in phones for l in p.lines))):
        for pattern, partition, intercom in session.exec(
                select(DirectoryNumber.pattern, DirectoryNumber.partition, DirectoryNumber.is_intercom)
                .where(col(DirectoryNumber.pattern).in_(chunk))):
            found[(pattern, partition)] = intercom
    return found


def _existing_names(session: Session, column, names) -> set[str]:
    found = set()
    for chunk in in_chunks(sorted(set(names))):
        found.update(session.exec(select(column).where(col(column).in_(chunk))))
    return found


def _template_kind(name: str) -> str:
    if name.casefold().startswith("universal device template"):
        return "universal"
    return "standard" if name.startswith("Standard ") else "custom"


def _apply(session: Session, phones: list[BatPhone], catalog: Catalog, summary: ImportSummary,
           progress: TextIO | None, on_progress: Progress | None) -> None:
    tell = on_progress or (lambda done, total: None)
    tell(0, len(phones))
    _templates_and_profiles(session, phones, catalog, summary)
    for pool, group in {bat_format.pool_of(p): p.date_time for p in phones if p.date_time is not None}.items():
        save_date_time_group(session, pool, group)
    _directory_numbers(session, phones, summary)
    _owners(session, phones, summary)
    with tqdm(total=len(phones), desc="import", unit="phone", file=progress,
              disable=progress is None or not _is_tty(progress)) as bar:
        for done, phone in enumerate(phones, 1):
            _create(session, phone, catalog)
            bar.update()
            tell(done, len(phones))
    summary.devices = len(phones)


def _templates_and_profiles(session: Session, phones: list[BatPhone], catalog: Catalog,
                            summary: ImportSummary) -> None:
    templates: dict[str, BatPhone] = {}
    for phone in phones:
        phone.template = phone.template or standard_template_name(catalog.model(phone.model), phone.protocol)
        templates.setdefault(phone.template, phone)
    for name in sorted(set(templates) - _existing_names(session, PhoneButtonTemplate.name, templates)):
        kind, first = _template_kind(name), templates[name]
        get_or_create_template(session, name, kind, *((first.model, first.protocol) if kind != "universal" else ()))
        summary.templates_created += 1
    profiles = {p.security_profile for p in phones if p.security_profile}
    for name in sorted(profiles - _existing_names(session, SecurityProfile.name, profiles)):
        get_or_create_security_profile(session, name, **({} if name in UNIVERSAL_PROFILES else bat_format.profile_fields(name)))
        summary.security_profiles_created += 1


def _directory_numbers(session: Session, phones: list[BatPhone], summary: ImportSummary) -> None:
    """The file's new DNs in one flush; the first row naming one gives its description and alerting name."""
    existing = _existing_dns(session, phones)
    new_dns: dict[tuple[str, str], BatLine] = {}
    phones_on: dict[tuple[str, str], int] = defaultdict(int)
    for phone in phones:
        for line in phone.lines:
            phones_on[(line.pattern, line.partition)] += 1
            if (line.pattern, line.partition) not in existing:
                new_dns.setdefault((line.pattern, line.partition), line)
    session.add_all(DirectoryNumber(pattern=l.pattern, partition=l.partition, description=l.description,
                                    alerting_name=l.alerting_name, is_intercom=l.intercom) for l in new_dns.values())
    session.flush()
    summary.dns_created, summary.shared_lines = len(new_dns), sum(n > 1 for n in phones_on.values())


def _owners(session: Session, phones: list[BatPhone], summary: ImportSummary) -> None:
    """Missing owners, with no PIN; primary extension: line 1 of the first phone the file gives them."""
    owners: dict[str, BatPhone] = {}
    for phone in phones:
        if phone.owner:
            owners.setdefault(phone.owner, phone)
    known = _existing_names(session, EndUser.user_id, owners)
    for user_id in [u for u in owners if u not in known]:
        first = next((l for l in owners[user_id].lines if not l.intercom), None)
        if first is not None and _someones_primary(session, first.pattern, first.partition):
            first = None  # S-3: a shared line 1 stays the primary extension of its first owner only
        create_user(session, user_id, extension=first.pattern if first else None,
                    partition=first.partition if first else "")
        summary.users_created += 1


def _someones_primary(session: Session, pattern: str, partition: str) -> bool:
    dn = session.exec(select(DirectoryNumber).where(DirectoryNumber.pattern == pattern,
                                                    DirectoryNumber.partition == partition)).first()
    return dn is not None and primary_extension_owner(session, dn.id) is not None


def _is_tty(stream: TextIO) -> bool:
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty())


def _create(session: Session, phone: BatPhone, catalog: Catalog) -> None:
    lines = [LineSpec(l.pattern, l.partition, label=l.label, display_name=l.display_name, intercom=l.intercom,
                      settings={k: v for k, v in (("max_calls", l.max_calls), ("busy_trigger", l.busy_trigger))
                                if v is not None})
             for l in phone.lines]
    device = create_device(
        session, phone.mac, phone.model, phone.protocol, owner=phone.owner, lines=lines,
        features=[("speed_dial", number, label) for number, label in phone.speed_dials], kems=phone.kems,
        template=phone.template, security_profile=phone.security_profile, catalog=catalog, **phone.device)
    if any(l.ascii_display_name for l in phone.lines):
        for appearance in session.exec(select(LineAppearance).where(LineAppearance.device_id == device.id)):
            appearance.ascii_display_name = phone.lines[appearance.position - 1].ascii_display_name
            session.add(appearance)


# --- export -------------------------------------------------------------------------

def export_bat(db: Database, out: TextIO, *, fmt: str = ALL_DETAILS, catalog: Catalog | None = None) -> int:
    """Write every phone to ``out`` in ``fmt`` (``all-details`` or ``bat``); the number of phones."""
    catalog = catalog or default_catalog()
    with db.read_session() as session:
        phones = site_phones(session)
    write_phones(phones, fmt, catalog, out)
    return len(phones)


def export_text(db: Database, fmt: str = ALL_DETAILS, catalog: Catalog | None = None) -> str:
    out = io.StringIO()
    export_bat(db, out, fmt=fmt, catalog=catalog)
    return out.getvalue()


def site_phones(session: Session) -> list[BatPhone]:
    """Every device as a BatPhone, in name order, in a few queries whatever the site's size."""
    users = dict(session.exec(select(EndUser.id, EndUser.user_id)).all())
    templates = dict(session.exec(select(PhoneButtonTemplate.id, PhoneButtonTemplate.name)).all())
    profiles = dict(session.exec(select(SecurityProfile.id, SecurityProfile.name)).all())
    kems: dict[int, list[str]] = defaultdict(list)
    for kem in session.exec(select(KemModule).order_by(col(KemModule.device_id), col(KemModule.slot))):
        kems[kem.device_id].append(kem.model)
    lines: dict[int, list[BatLine]] = defaultdict(list)
    for la, dn in session.exec(
            select(LineAppearance, DirectoryNumber).join(DirectoryNumber, col(DirectoryNumber.id) == col(LineAppearance.dn_id))
            .order_by(col(LineAppearance.device_id), col(LineAppearance.position))):
        settings = la.settings or {}
        lines[la.device_id].append(BatLine(
            pattern=dn.pattern, partition=dn.partition, label=la.label, display_name=la.display_name,
            ascii_display_name=la.ascii_display_name, description=dn.description, alerting_name=dn.alerting_name,
            max_calls=settings.get("max_calls"), busy_trigger=settings.get("busy_trigger"), intercom=dn.is_intercom))
    speed_dials: dict[int, list[tuple[str, str]]] = defaultdict(list)
    for button in session.exec(select(FeatureButton).where(FeatureButton.feature == "speed_dial")
                               .order_by(col(FeatureButton.device_id), col(FeatureButton.position))):
        speed_dials[button.device_id].append((button.target, button.label))
    phones = []
    groups = date_time_groups(session, session.exec(select(Device.device_pool).distinct()))
    for device in session.exec(select(Device).order_by(col(Device.name))):
        if device.mac is None:
            continue  # not a phone (SEP + MAC): nothing a BAT phone file can hold
        phones.append(BatPhone(
            mac=device.mac, model=device.model, protocol=device.protocol, owner=users.get(device.owner_id),
            template=templates.get(device.button_template_id), security_profile=profiles.get(device.security_profile_id),
            kems=kems[device.id], lines=lines[device.id], speed_dials=speed_dials[device.id],
            date_time=groups.get(device.device_pool),
            device={name: getattr(device, name) for name in (*bat_format.TEXT_FIELDS, *bat_format.BOOL_FIELDS)
                    if getattr(device, name) not in (None, "")}))
    return phones
