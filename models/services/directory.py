"""``Directory``: the end users as the doors see them (find, search, add, change,
PIN, unlock, profile), one transaction a method.

Each method opens its own unit of work (``Database.session``) or read scope
(``Database.read_session``) and answers with public values (``EndUserPublic``,
``reports.UserPage``): never a PIN hash (A-6), never a row still bound to a
session. The checks live in the session-taking functions it calls
(``models.services.users``, ``models.services.site``, ``models.services.reports``),
which the demo loader and the BAT import compose inside their own transaction.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from models.services import activation, reports, site, users
from models.storage import queries
from models.storage.database import Database
from models.tables.activation import ActivationCodePublic
from models.tables.users import EndUserCreate, EndUserPublic


@dataclass
class UserDetails:
    """A user's page: the user, owned phones and profile (``reports.UserPage``), the
    profiles one may choose (S-7) and the user's activation codes (M-5)."""

    page: reports.UserPage
    profiles: list[dict[str, Any]]
    codes: list[ActivationCodePublic]


@dataclass(frozen=True)
class ExtensionChoice:
    """A DN a user's primary extension may be (S-3), and whose primary extension it is already."""

    id: int
    pattern: str
    partition: str
    owner: str | None


class Directory:
    """End users: one transaction a method, public values out."""

    def __init__(self, db: Database) -> None:
        self.db = db

    # --- reads -------------------------------------------------------------------

    def find(self, user_id: str, now: datetime) -> EndUserPublic:
        """One user (``unknown_user`` when there is none)."""
        with self.db.read_session() as session:
            return reports.user_public(session, site.find_user(session, user_id), now)

    def search_page(self, search: str, *, limit: int, offset: int, now: datetime
                    ) -> tuple[list[EndUserPublic], int]:
        """A page of the user search (user ID, name, self-service ID, extension) and how many match."""
        with self.db.read_session() as session:
            rows, total = users.user_search(session, search, limit=limit, offset=offset)
            return [reports.user_public(session, u, now) for u in rows], total

    def search(self, search: str = "", *, now: datetime, limit: int = 200) -> list[EndUserPublic]:
        """The first ``limit`` users the search finds, by user ID."""
        with self.db.read_session() as session:
            return reports.find_users(session, search, now=now, limit=limit)

    def details(self, user_id: str, now: datetime) -> UserDetails:
        """Everything a user's page shows, read in one scope."""
        with self.db.read_session() as session:
            page = reports.user_page(session, user_id, now=now)
            codes = [c for c in activation.listing(session, now) if c.user == user_id]
            return UserDetails(page, reports.profiles(session), codes)

    def extensions(self) -> list[ExtensionChoice]:
        """The DNs a user's primary extension may be, each with its owner when taken (S-3)."""
        with self.db.read_session() as session:
            return [ExtensionChoice(dn.id, dn.pattern, dn.partition, owner)
                    for dn, owner in queries.extension_choices(session)]

    def check_new_user_id(self, user_id: str) -> None:
        """Refused as ``add`` would refuse the user ID (taken, blank, too long), before a PIN is asked for."""
        with self.db.read_session() as session:
            users.check_new_user_id(session, user_id)

    # --- writes ------------------------------------------------------------------

    def add(self, data: EndUserCreate, now: datetime) -> EndUserPublic:
        """A new user (``users.add_user``'s checks) and its public view, in one transaction."""
        with self.db.session() as session:
            return reports.user_public(session, users.add_user(session, data), now)

    def update(self, user_id: str, changes: dict[str, Any], now: datetime) -> EndUserPublic:
        """The ``EndUserUpdate`` fields that were sent; null clears."""
        with self.db.session() as session:
            return reports.user_public(session, users.update_user(session, user_id, changes), now)

    def set_pin(self, user_id: str, pin: str) -> None:
        """A-4's checks, A-6's hash."""
        with self.db.session() as session:
            site.set_pin(session, user_id, pin)

    def unlock(self, user_id: str, now: datetime) -> EndUserPublic:
        """A-4: the failed-PIN count and the lockout cleared; the user as it is now."""
        with self.db.session() as session:
            site.unlock(session, user_id)
            return reports.user_public(session, site.find_user(session, user_id), now)

    def set_profile(self, user_id: str, profile: str | None) -> None:
        """S-7: the profile the user's self-provisioning follows (None: none)."""
        with self.db.session() as session:
            site.set_user_profile(session, user_id, profile)
