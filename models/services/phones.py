"""``Phones``: the site's phones as the doors see them (search, a phone's view and
page, add, change, delete, the registration the call control reports), one
transaction a method.

Each method opens its own unit of work (``Database.session``) or read scope
(``Database.read_session``) and answers with public values (``DevicePublic``,
``reports.DeviceRow``, ``reports.DevicePage``, ``RegistrationState``). The checks
live in the session-taking functions it calls (``models.services.devices``,
``models.services.reports``), which the demo loader, the BAT import and the
migration engine compose inside their own transaction.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from models.rules.catalog import Catalog
from models.services import devices, reports
from models.storage.database import Database
from models.storage.devices import find_device
from models.storage.queries import DEVICE_FIELDS, DEVICE_SORTS
from models.tables.devices import DeviceCreate, DevicePublic

__all__ = ["DEVICE_FIELDS", "DEVICE_SORTS", "MigrationForm", "Phones", "RegistrationState"]


@dataclass(frozen=True)
class RegistrationState:
    """What a phone's registration is now (DESIGN "Registration state", C-14, F-7)."""

    name: str
    state: str
    contact: str | None
    register_call_id: str | None
    load: str | None


@dataclass
class MigrationForm:
    """What "Migrate Phone" (C-15) offers for one old phone: its page and the templates it may target."""

    page: reports.DevicePage
    templates: list[dict[str, Any]]


class Phones:
    """Phones: one transaction a method, public values out."""

    def __init__(self, db: Database, catalog: Catalog) -> None:
        self.db = db
        self.catalog = catalog

    # --- reads -------------------------------------------------------------------

    def get(self, name: str) -> DevicePublic:
        """One phone by name in any case or its bare MAC (``unknown_device`` otherwise)."""
        with self.db.read_session() as session:
            return reports.device_public(session, find_device(session, name))

    def search_page(self, search: str, *, migrated: bool | None, limit: int, offset: int
                    ) -> tuple[list[DevicePublic], int]:
        """A page of the C-13 device search, each phone's public view, and how many match."""
        with self.db.read_session() as session:
            rows, total = devices.device_search(session, search, migrated=migrated, limit=limit, offset=offset)
            return [reports.device_public(session, d) for d in rows], total

    def rows(self, search: str = "", *, migrated: bool | None = None, limit: int = 200,
             offset: int = 0) -> list[reports.DeviceRow]:
        """The C-13 device search as list rows (owner, line 1)."""
        with self.db.read_session() as session:
            return reports.search_devices(session, search, migrated=migrated, limit=limit, offset=offset)

    def list_page(self, search: str = "", *, migrated: bool | None = None, fields: dict[str, str] | None = None,
                  sort: str = "name", descending: bool = False, limit: int = 200,
                  offset: int = 0) -> tuple[list[reports.DeviceRow], int]:
        """Find and List Phones (C-13): a page of rows in a column's order, per-field search, the real total."""
        with self.db.read_session() as session:
            return reports.device_list_page(session, search, migrated=migrated, fields=fields, sort=sort,
                                            descending=descending, limit=limit, offset=offset)

    def page(self, name: str) -> reports.DevicePage:
        """A phone's page: buttons and where they sit, parameters, load, its records (C-13)."""
        with self.db.read_session() as session:
            return reports.device_page(session, name, self.catalog)

    def migration_form(self, name: str) -> MigrationForm:
        """The old phone's page and the phone templates "Migrate Phone" may target, read in one scope."""
        with self.db.read_session() as session:
            return MigrationForm(reports.device_page(session, name, self.catalog), reports.phone_templates(session))

    # --- writes ------------------------------------------------------------------

    def add(self, data: DeviceCreate) -> DevicePublic:
        """A new phone named SEP + MAC (C-11) and its public view, in one transaction."""
        with self.db.session() as session:
            return reports.device_public(session, devices.add_device(session, data, self.catalog))

    def update(self, name: str, changes: dict[str, Any]) -> DevicePublic:
        """The ``DeviceUpdate`` fields that were sent (``devices.update_device``: locked as C-12 locks)."""
        with self.db.session() as session:
            return reports.device_public(session, devices.update_device(session, name, changes))

    def delete(self, name: str) -> None:
        """The phone, its lines, buttons and KEMs; an unused pre-built activation code goes with it (M-5)."""
        with self.db.session() as session:
            devices.remove_device(session, name)

    def set_registration(self, name: str, state: str, contact: str | None = None,
                         register_call_id: str | None = None, load: str | None = None) -> RegistrationState:
        """What the call control reports of a phone's registration (``devices.set_registration``)."""
        with self.db.session() as session:
            device = devices.set_registration(session, name, state, contact, register_call_id, load)
            return RegistrationState(device.name, device.registration, device.sip_contact,
                                     device.register_call_id, device.reported_load)
