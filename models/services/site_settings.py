"""``SiteSettingsService``: the site settings as the doors edit them (S-1..S-7, the
A-4 policy, R-6): the settings, the authentication code (S-4), device defaults
per model (S-6) and user profiles (S-7), one transaction a method.

Each method opens its own unit of work (``Database.session``) or read scope
(``Database.read_session``). Settings come out as ``SiteSettings.public()``:
whether an authentication code is set, never its hash (A-6). The checks live
in ``models.storage.settings`` (the settings as a whole) and
``models.services.site`` (the code, defaults and profiles).
"""

from __future__ import annotations

from typing import Any, Mapping

from models.rules.catalog import Catalog
from models.services import reports, site
from models.storage.database import Database
from models.storage.settings import load_settings, save_settings


class SiteSettingsService:
    """The site's settings: one transaction a method, public values out."""

    def __init__(self, db: Database, catalog: Catalog) -> None:
        self.db = db
        self.catalog = catalog

    def current(self) -> dict[str, Any]:
        """Every setting, and ``auth_code_set`` instead of the code's hash (A-6)."""
        with self.db.read_session() as session:
            return load_settings(session).public()

    def change(self, **changes: Any) -> dict[str, Any]:
        """The settings changed and checked as a whole (a refusal names the setting); the result, public."""
        with self.db.session() as session:
            return save_settings(session, **changes).public()

    def set_auth_code(self, code: str) -> None:
        """S-4: 0 to 20 digits, stored hashed."""
        with self.db.session() as session:
            site.set_auth_code(session, code)

    # --- S-6 ---------------------------------------------------------------------

    def device_defaults(self) -> list[reports.DefaultsRow]:
        """Every catalogue phone model (not Jabber) with its stored load and onboarding method."""
        with self.db.read_session() as session:
            return reports.device_defaults_rows(session, self.catalog)

    def set_device_defaults(self, defaults: Mapping[str, tuple[str | None, str | None]]) -> None:
        """S-6 for several models at once, all or nothing: model -> (load, onboarding method);
        None or empty: the catalogue's load, no method set (M-1)."""
        with self.db.session() as session:
            for model, (load, method) in defaults.items():
                site.set_device_defaults(session, model, load=load, onboarding_method=method, catalog=self.catalog)

    # --- S-7 ---------------------------------------------------------------------

    def profiles(self) -> list[dict[str, Any]]:
        with self.db.read_session() as session:
            return reports.profiles(session)

    def save_profile(self, name: str, *, new: bool = False, **fields: Any) -> None:
        """Create (``new``) or change a user profile; a bad value is refused naming the field."""
        with self.db.session() as session:
            site.save_profile(session, name, new=new, **fields)
