"""R-1..R-6: what the registrar (Kamailio) tells the product, and what the
product answers. Each method is one transaction.

``check`` decides whether a REGISTER may be saved (R-1, R-2); ``registered``
and ``unregistered`` keep each device's registration (R-3), confirm the
migrations to a phone that comes up with its new line 1 and flag an old phone
that comes back (R-6); ``reconcile`` heals lost events from the registrar's
whole location table and ``expire`` ends what nobody refreshed.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Callable

from sqlmodel import select

from models.rules import registration as rules
from models.rules.catalog import Catalog, UnknownModel, default_catalog
from models.rules.clock import utcnow
from models.rules.refusals import Refused
from models.rules.registration import Register, RestartTarget
from models.storage import registration_rows as rows
from models.storage.database import Database
from models.tables.registrations import Registration


@dataclass(frozen=True)
class Registered:
    """What one REGISTER changed, for the door's log line."""

    device: str
    confirmed: tuple[int, ...] = ()  # migration records this registration confirmed
    old_returned: tuple[int, ...] = ()  # records flagged: a migrated old phone registered again


class Registrations:
    def __init__(self, db: Database, catalog: Catalog | None = None, clock: Callable[[], datetime] = utcnow,
                 grace_seconds: int = 30, confirm_minutes: int = 30) -> None:
        self.db = db
        self.catalog = catalog or default_catalog()
        self.clock = clock
        self.grace = timedelta(seconds=grace_seconds)
        self.confirm_within = timedelta(minutes=confirm_minutes)

    # --- R-1, R-2 --------------------------------------------------------------
    def check(self, reg: Register) -> str:
        """The device name when the REGISTER may be saved; ``Refused`` (the registrar answers 403) if not."""
        wrong = rules.problems(reg)
        if wrong:
            raise Refused("bad_register", "the REGISTER is not usable: " + ", ".join(wrong))
        with self.db.read_session() as session:
            return self._device(session.connection(), reg)

    def _device(self, connection, reg: Register) -> str:
        name = rules.device_of(reg)
        if name is None:
            found = rows.line1_devices(connection, reg.aor)
            if len(found) != 1:
                raise Refused("register_unknown_device",
                              f"no single phone has {reg.aor} on line 1, and the REGISTER names no device")
            name = found[0]
        device = rows.device_facts(connection, name)
        if device is None:
            raise Refused("register_unknown_device", f"{name} is not a phone of this site")
        if reg.aor.upper() != name and reg.aor not in rows.line_patterns(connection, device.id).values():
            raise Refused("register_foreign_dn", f"{reg.aor} is not a line of {name}")
        return name

    # --- R-3, R-6 --------------------------------------------------------------
    def registered(self, reg: Register) -> Registered:
        """A REGISTER the registrar saved (a refresh too); ``expires == 0`` de-registers."""
        name = self.check(reg)
        if reg.expires == 0:
            self.unregistered(name, reg.call_id)
            return Registered(name)
        now = self.clock()
        with self.db.session() as session:
            connection = session.connection()
            rows.save(session, name, reg, now, rules.expires_at(now, reg))
            rows.set_device_state(connection, name, "registered", reg.contact, reg.call_id)
            device = rows.device_facts(connection, name)
            confirmed: list[int] = []
            if rows.line_patterns(connection, device.id).get(1) == reg.aor:
                confirmed = rows.confirm(connection, name, now)
            returned = rows.flag_returned(connection, name, now) if device.migrated else []
        return Registered(name, tuple(confirmed), tuple(returned))

    def unregistered(self, device_name: str, call_id: str | None = None, reason: str = "deregistered") -> bool:
        """A de-registration or expiry; one naming another Call-ID than the current registration's is stale
        (the phone registered again meanwhile) and changes nothing. True when something ended."""
        with self.db.session() as session:
            row = session.get(Registration, device_name)
            if row is None or (call_id is not None and row.call_id != call_id):
                return False
            session.delete(row)
            rows.set_device_state(session.connection(), device_name, "unregistered", None, None)
        return True

    def reconcile(self, regs: list[Register]) -> dict[str, int]:
        """R-3: the registrar's whole location table. What it lists is (re)stored; what this site holds as
        registered but the table lacks ends. A binding the site would refuse now is neither stored nor
        ended: admitted before (the temporary DN a migration just took off the phone, which still waits
        on that binding for its restart, R-5), it lasts until it expires or the phone registers again."""
        listed: set[str] = set()
        counts = {"registered": 0, "unregistered": 0, "refused": 0}
        for reg in regs:
            try:
                listed.add(self.registered(reg).device)
                counts["registered"] += 1
            except Refused:
                counts["refused"] += 1
                listed.add(rules.device_of(reg) or "")
        with self.db.read_session() as session:
            held = list(session.exec(select(Registration.device_name, Registration.call_id)))
        for name, call_id in held:
            if name not in listed and self.unregistered(name, call_id, "reconciled"):
                counts["unregistered"] += 1
        return counts

    def expire(self) -> int:
        """R-3: registrations past their expiry plus the grace end, even though no message said so."""
        now = self.clock()
        with self.db.read_session() as session:
            due = list(session.exec(select(Registration.device_name, Registration.call_id, Registration.expires_at)))
        return sum(self.unregistered(name, call_id, "expired") for name, call_id, expires in due
                   if not rules.is_current(expires, now, self.grace))

    # --- R-5 ------------------------------------------------------------------
    def restart_target(self, device_name: str) -> RestartTarget | None:
        """Where a restart request reaches the phone (through the registrar), None when it is not registered."""
        now = self.clock()
        with self.db.read_session() as session:
            row = session.get(Registration, device_name)
            if row is None or not rules.is_current(row.expires_at, now, self.grace):
                return None
            device = rows.device_facts(session.connection(), device_name)
            if device is None:
                return None
            try:
                model = self.catalog.model(device.model).key
            except UnknownModel:
                model = device.model
            return RestartTarget(device_name, row.contact, row.received, row.transport, row.call_id, model)

    def confirmation(self, applied: datetime, confirmed: datetime | None) -> str:
        """R-6: ``confirmed``, ``applied`` (within the time allowed) or ``unconfirmed`` (overdue)."""
        return rules.confirmation(applied, confirmed, self.clock(), self.confirm_within)

