"""The self-service path shared by the IVR and the screens: A, D and P rules.

identify (A-2, S-3) -> authenticate (A-3..A-5, S-4) -> select (D-1..D-4)
-> preview (C-15) -> replace (C-12, through ``models.services.migration``), or
provision (P-1). A door keeps one ``Attempt`` per call or screen session and
only translates digits or form fields into these calls and ``Refused`` back
into words.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import wraps
from typing import Callable

from sqlalchemy.engine import Connection
from sqlmodel import Session, col, func, select

from models.rules import auth
from models.rules.attempt import Attempt
from models.rules.catalog import UnknownModel
from models.rules.clock import utcnow
from models.rules.phrases import count
from models.rules.plan import Plan, Target
from models.rules.refusals import Refused
from models.rules.selection import Candidate, Selection, choose
from models.rules.settings import SiteSettings
from models.services.migration import MigrationResult, Migrator
from models.storage import selfservice_rows as reads
from models.storage.devices import find_device, release_unused_autoreg_dns
from models.storage.queries import prune_throttles, start_facts
from models.storage.settings import current_settings, load_settings, onboarding_method
from models.tables.devices import Device
from models.tables.lines import DirectoryNumber, LineAppearance
from models.tables.records import MigrationRecord
from models.tables.users import AuthCodeThrottle, CredentialState, EndUser, UserProfile

INVALID = "The extension or PIN is not valid"  # one answer for both
FORGOTTEN_PIN = "If you forgot your PIN, change it in the self-care portal or ask your administrator"


def recorded(action: str):
    """C-13: every refusal on the self-service path is recorded (never the secret)."""

    def wrap(method):
        @wraps(method)
        def inner(self: "SelfService", attempt: "Attempt", *args, **kwargs):
            try:
                return method(self, attempt, *args, **kwargs)
            except Refused as refusal:
                old = args[0] if action == "replace" and args else None
                self.migrator.record_refusal(attempt.door, attempt.actor, old, attempt.new_device, refusal, action=action)
                raise

        return inner

    return wrap


@dataclass(frozen=True)
class ScreenStart:
    """A phone at the first screen: what M-1 and M-2 decide from."""

    model: str | None  # the stored phone's model, else the catalogue's name for the header's (as sent if unknown)
    load: str | None  # the stored phone's load override
    known: bool  # a phone of this site
    preconfigured: bool  # known and not auto-registered: nothing to set up
    settings: SiteSettings
    onboarding_method: str | None  # S-6 for the model; None: none set


class SelfService:
    def __init__(self, migrator: Migrator, clock: Callable[[], datetime] = utcnow) -> None:
        self.migrator = migrator
        self.db = migrator.db
        self.catalog = migrator.catalog
        self.clock = clock

    def caller_device(self, number: str | None, device_name: str | None = None, instance: str | None = None) -> str | None:
        """Which new phone is calling (IVR): the Cisco ``devicename`` or the MAC in
        ``+sip.instance`` when present, else the phone whose line 1 is the calling
        auto-registered DN (T-4). None: not a known new phone (it can't migrate onto itself)."""
        candidates = []
        if device_name and re.fullmatch(r"SEP[0-9A-F]{12}", device_name, re.IGNORECASE):
            candidates.append("SEP" + device_name[3:].upper())
        mac = re.search(r"([0-9a-fA-F]{12})>?$", (instance or "").replace("-", ""))
        if mac:
            candidates.append("SEP" + mac.group(1).upper())
        with self.db.read_session() as session:
            for name in candidates:
                if session.exec(select(Device.id).where(Device.name == name)).first() is not None:
                    return name
            if not number:
                return None
            rows = session.exec(
                select(Device.name)
                .join(LineAppearance, col(LineAppearance.device_id) == col(Device.id))
                .join(DirectoryNumber, col(DirectoryNumber.id) == col(LineAppearance.dn_id))
                .where(DirectoryNumber.pattern == number, LineAppearance.position == 1,
                       Device.auto_registered == True)  # noqa: E712
            ).all()
        return rows[0] if len(rows) == 1 else None

    def settings(self) -> SiteSettings:
        return current_settings(self.db)

    def start(self, name: str, header_model: str | None) -> ScreenStart:
        """What the first screen (M-1, M-2) needs of phone ``name``, in one read: the
        busiest page (bench/screens.py), so one Core read transaction (the screens'
        shared read scope when there is one) on prebuilt statements."""
        with self.db.read_connection() as connection:
            device = start_facts(connection, name)
            model = device.model if device is not None else self._header_model(header_model)
            return ScreenStart(model=model, load=device.load_override if device is not None else None,
                               known=device is not None,
                               preconfigured=device is not None and not device.auto_registered,
                               settings=load_settings(connection),
                               onboarding_method=onboarding_method(connection, model, self.catalog))

    def _header_model(self, header: str | None) -> str | None:
        """M-2: ``x-CiscoIPPhoneModelName`` as the catalogue names the model: phones send
        "CP-8851" or "Cisco 8851" (the manufacturing name varies by model); one the
        catalogue does not know stays as sent, for M-2 to refuse by name."""
        try:
            return self.catalog.model(header).key if header else None
        except UnknownModel:
            return header

    def needs_secret(self) -> bool:
        return self.settings().authentication != "none"

    # --- A-2 ----------------------------------------------------------------
    @recorded("identify")
    def identify(self, attempt: Attempt, entry: str) -> None:
        """Record who the caller says they are. An unknown entry is not told apart (A-5)."""
        entry = (entry or "").strip()
        attempt.dn_id = attempt.user_id = attempt.user_name = attempt.role = None
        attempt.extension = entry
        if not entry or len(entry) > 48:
            self._fail(attempt, Refused("bad_entry", "That entry is not valid. Enter your extension"))
        with self.db.read_connection() as connection:
            settings = load_settings(connection)
            if settings.identification == "self_service_user_id":
                user = reads.user_by_self_service_id(connection, entry)
                dn = user.primary_extension_id if user else None
            else:
                dns = reads.dn_ids(connection, entry)
                if len(dns) > 1:  # S-3
                    raise Refused("dn_in_several_partitions")
                dn = dns[0] if dns else None
                user = reads.user_by_primary_extension(connection, dn) if dn else None
            attempt.dn_id = dn
            attempt.user_id = user.id if user else None
            attempt.user_name = user.user_id if user else None
            if settings.authentication == "none":
                attempt.role = "user" if dn else None
                if dn is None:
                    self._fail(attempt, Refused("invalid_credentials", "The extension is not valid"), settings)

    # --- A-3..A-5 -----------------------------------------------------------
    @recorded("authenticate")
    def authenticate(self, attempt: Attempt, secret: str) -> None:
        """A-3..A-5. The hashes are checked outside any write transaction (argon2
        takes milliseconds and SQLite has one writer); only the counters are
        written, re-read under the write lock."""
        now = self.clock()
        device_key = attempt.new_device or "unknown"
        with self.db.read_connection() as connection:  # rows, read only
            settings = load_settings(connection)
            user = reads.user_pin(connection, attempt.user_id) if attempt.user_id else None
            state = reads.credential_state(connection, user.id) if user else None
            throttle = reads.code_throttle(connection, device_key)
        if settings.authentication == "none":
            return
        code_on = settings.authentication == "users_and_admins" and settings.auth_code_hash is not None
        if code_on and not auth.code_blocked(throttle, now) and auth.verify_secret(settings.auth_code_hash, secret):
            attempt.role = "admin"
            return
        if user is not None and auth.is_locked(state, settings, now):
            raise self._locked(state, settings, now)
        matched = user is not None and attempt.dn_id is not None and auth.verify_secret(user.pin_hash, secret)
        if user is None:
            auth.verify_secret(None, secret)  # the same cost as a real miss
        rehash = auth.hash_secret(secret) if matched and auth.needs_rehash(user.pin_hash) else None
        if matched and rehash is None and (state is None or not (state.failures or state.locked_at or state.first_failure_at)):
            attempt.role = "user"  # nothing to write
            return
        if user is None and not code_on:  # no counter to move
            self._fail(attempt, Refused("invalid_credentials", INVALID), settings)
        locked_now = False
        with self.db.session() as session:
            state = session.get(CredentialState, user.id) if user else None
            if user is not None and auth.is_locked(state, settings, now):  # locked meanwhile, from another door
                raise self._locked(state, settings, now)
            if matched:
                if state is not None:
                    auth.record_success(state)
                    session.add(state)
                if rehash is not None:
                    stored = session.get(EndUser, user.id)
                    stored.pin_hash = rehash
                    session.add(stored)
                attempt.role = "user"
                return
            if user is not None:
                state = state or CredentialState(user_id=user.id)
                locked_now = auth.record_failure(state, settings, now)
                session.add(state)
            if code_on:
                throttle = session.get(AuthCodeThrottle, device_key) or AuthCodeThrottle(device_name=device_key)
                auth.record_code_failure(throttle, settings, now)
                session.add(throttle)
                prune_throttles(session, admin=False, now=now,
                                window_start_before=now - timedelta(minutes=settings.auth_code_block_minutes))
        if locked_now:
            raise self._locked(state, settings, now)
        self._fail(attempt, Refused("invalid_credentials", INVALID), settings)

    def _locked(self, state: CredentialState, settings: SiteSettings, now: datetime) -> Refused:
        minutes = auth.lock_remaining_minutes(state, settings, now)
        when = f"Try again in {count(minutes, 'minute')}, or ask" if minutes else "Ask"
        return Refused("locked", f"Your account is locked after too many wrong PINs. {when} your administrator to unlock it. {FORGOTTEN_PIN}")

    def _fail(self, attempt: Attempt, refusal: Refused, settings: SiteSettings | None = None) -> None:
        """A-4: three wrong entries in one session end it."""
        attempt.failures += 1
        if attempt.failures >= (settings or self.settings()).session_attempts:
            raise Refused(refusal.code, f"{refusal.message}. Too many attempts; goodbye. {FORGOTTEN_PIN}", final=True)
        raise refusal

    def _require_authenticated(self, attempt: Attempt) -> None:
        if attempt.role is None:
            raise Refused("not_authenticated", "Enter your extension and PIN first")

    # --- D-1..D-3 -----------------------------------------------------------
    @recorded("replace_select")
    def select(self, attempt: Attempt) -> Selection:
        self._require_authenticated(attempt)
        with self.db.read_connection() as connection:
            attempt.candidates = tuple(self._candidates(connection, attempt))
        return choose(list(attempt.candidates))

    def _candidates(self, connection: Connection, attempt: Attempt) -> list[Candidate]:
        """D-1/D-2: the DN on line 1, the user's own (any owner with the code)."""
        owner = reads.ANY_OWNER if attempt.role == "admin" else attempt.user_id
        found = []
        for name, model_name, description, registration in reads.line1_devices(connection, attempt.dn_id, owner):
            if name == attempt.new_device:
                continue
            try:
                model = self.catalog.model(model_name)
            except UnknownModel:
                model = None
            if attempt.door == "screen" and model is not None and model.video:
                continue
            display = model.display_name if model else model_name
            found.append(Candidate(name, display, description, registration == "registered"))
        return found

    def _check_candidate(self, attempt: Attempt) -> Callable[[Connection, Device], None]:
        """Re-checked inside the migration's transaction, on the locked row."""

        def check(connection: Connection, device) -> None:  # the locked row (models.storage.devices.device_row)
            if device.name not in {c.name for c in self._candidates(connection, attempt)}:
                raise Refused("not_a_candidate")

        return check

    # --- C-15 preview and C-12 apply ---------------------------------------
    def target(self, attempt: Attempt) -> Target:
        if attempt.target is None:
            attempt.target = self._target(attempt)
        return attempt.target

    def _target(self, attempt: Attempt) -> Target:
        if not attempt.new_device:
            raise Refused("unknown_caller")
        with self.db.read_connection() as connection:
            device = reads.new_phone(connection, attempt.new_device)
            if device is not None and not device.auto_registered:
                raise Refused("not_a_new_phone")
            model = device.model if device else attempt.new_model
            protocol = device.protocol if device else attempt.new_protocol
        if not model:
            raise Refused("unknown_caller")
        return Target(mac=attempt.new_device, model=model, protocol=protocol)

    @recorded("replace")
    def preview(self, attempt: Attempt, old_name: str) -> Plan:
        self._require_authenticated(attempt)
        if old_name not in {c.name for c in attempt.candidates}:
            raise Refused("not_a_candidate")
        return self.migrator.preview(old_name, self.target(attempt))

    @recorded("replace")
    def replace(self, attempt: Attempt, old_name: str, also: Callable[[Session], None] | None = None) -> MigrationResult:
        """``also``: the door's own write, in the migration's transaction (the screens end their session)."""
        self._require_authenticated(attempt)
        if old_name not in {c.name for c in attempt.candidates}:
            raise Refused("not_a_candidate")
        return self.migrator.migrate(
            old_name, self.target(attempt), door=attempt.door, actor=attempt.actor, check=self._check_candidate(attempt),
            also=also,
        )

    # --- P-1 ----------------------------------------------------------------
    @recorded("provision")
    def provision(self, attempt: Attempt) -> str:
        """P-1: give the caller's auto-registered phone to the identified user."""
        self._require_authenticated(attempt)
        with self.db.session() as session:
            name = self._provision(session, attempt)
            session.add(MigrationRecord(door=attempt.door, action="provision", actor=attempt.actor,
                                        new_device=name, outcome="provisioned"))
        return name

    # --- C-13 ------------------------------------------------------------------
    def abandon(self, attempt: Attempt, action: str | None) -> None:
        """C-13: an attempt given up after an extension was keyed is recorded with that
        extension (never the PIN); ``action`` is the caller's choice, replace or provision."""
        if not attempt.extension:
            return
        with self.db.session() as session:
            session.add(MigrationRecord(
                door=attempt.door, action=action or "replace", actor=attempt.actor, new_device=attempt.new_device,
                outcome="abandoned", message=f"Given up after extension {attempt.extension} was entered",
                details={"extension": attempt.extension}))

    def _provision(self, session: Session, attempt: Attempt) -> str:
        user = session.get(EndUser, attempt.user_id) if attempt.user_id else None
        if user is None or user.primary_extension_id is None:
            raise Refused("no_user")
        if not attempt.new_device:
            raise Refused("unknown_caller")
        device = find_device(session, attempt.new_device, lock=True)
        profile = session.get(UserProfile, user.profile_id) if user.profile_id else UserProfile(name="default")
        if not profile.allow_self_provisioning:
            raise Refused("not_allowed")
        if device.owner_id == user.id and not device.auto_registered:
            raise Refused("already_yours", "This phone is already yours")
        if device.owner_id not in (None, user.id):
            previous = session.get(EndUser, device.owner_id)
            previous_profile = session.get(UserProfile, previous.profile_id) if previous and previous.profile_id else None
            if not (previous_profile and previous_profile.allow_reassign_from_other_user):
                raise Refused("owned_by_other")
        owned = session.exec(
            select(func.count()).select_from(Device).where(Device.owner_id == user.id, Device.migrated == False, Device.id != device.id)  # noqa: E712
        ).one()
        if owned >= profile.phone_limit:
            raise Refused("phone_limit")
        old_line1 = session.exec(select(LineAppearance).where(LineAppearance.device_id == device.id, LineAppearance.position == 1)).first()
        released = []
        if old_line1 is not None:
            released.append(old_line1.dn_id)
            old_line1.dn_id = user.primary_extension_id
            old_line1.line_template = profile.universal_line_template
            old_line1.label = old_line1.display_name = user.display_name
            session.add(old_line1)
        else:
            session.add(LineAppearance(device_id=device.id, dn_id=user.primary_extension_id, position=1,
                                       line_template=profile.universal_line_template, label=user.display_name,
                                       display_name=user.display_name))
        device.owner_id = user.id
        device.auto_registered = False
        device.device_template = profile.universal_device_template
        session.add(device)
        session.flush()
        release_unused_autoreg_dns(session, [d for d in released if d != user.primary_extension_id])
        return device.name
