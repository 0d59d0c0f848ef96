"""Site settings S-1..S-6 and the credential policy (A-4), stored in the database.

One typed object, ``SiteSettings``, is what every rule reads. It is stored as
one row per key so an admin can change one value without a schema upgrade; a
bad value is refused with the key's name. (These are the site's rules; the
server process's own ports and paths are in ``phoneservice.config``.)
"""

from __future__ import annotations

import secrets
import weakref
from typing import Any

from pydantic import ValidationError
from sqlalchemy import bindparam
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from models.rules.refusals import Refused
from models.rules.settings import SiteSettings
from models.storage.prepared import Prepared
from models.storage.stamp import SETTINGS_BUMPED, settings_version
from models.tables.settings import DeviceDefaults, SiteSetting

_CACHE: "weakref.WeakKeyDictionary[Engine, tuple[int, SiteSettings]]" = weakref.WeakKeyDictionary()


def load_settings(reader: Session | Connection) -> SiteSettings:
    """The settings, from a per-engine cache kept under the settings stamp
    (``models.storage.stamp``): one small read instead of every row, never stale, also
    across processes. A transaction that changes things reads the rows.
    ``reader``: an ORM session, or a Core connection (the self-service hot path)."""
    if not isinstance(reader, Connection):  # an ORM session
        if reader.new or reader.dirty or reader.deleted or reader.info.get(SETTINGS_BUMPED):
            return _read_settings(reader)  # the ORM's execute flushes the pending changes first
        reader = reader.connection()
    version = settings_version(reader)
    hit = _CACHE.get(reader.engine)
    if hit is not None and hit[0] == version:
        return hit[1]
    settings = _read_settings(reader)
    _CACHE[reader.engine] = (version, settings)
    return settings


def current_settings(db) -> SiteSettings:
    """The settings outside any transaction (``models.storage.database.Database``)."""
    with db.read_connection() as connection:
        return load_settings(connection)


_ALL_SETTINGS = select(SiteSetting.key, SiteSetting.value)


def _read_settings(reader: Session | Connection) -> SiteSettings:
    stored = dict(reader.execute(_ALL_SETTINGS).all())
    known = {k: v for k, v in stored.items() if k in SiteSettings.model_fields}
    return SiteSettings(**known)


def save_settings(session: Session, **changes: Any) -> SiteSettings:
    """Validate the whole object with the changes, then store only the changes."""
    current = load_settings(session).model_dump()
    for key in changes:
        if key not in SiteSettings.model_fields:
            raise Refused("bad_setting", f'unknown setting "{key}"')
    try:
        updated = SiteSettings(**{**current, **changes})
    except ValidationError as exc:
        err = exc.errors()[0]
        key = ".".join(str(p) for p in err["loc"]) or ", ".join(changes)
        raise Refused("bad_setting", f'setting "{key}": {err["msg"]}') from None
    for key in changes:
        value = getattr(updated, key)
        row = session.get(SiteSetting, key)
        if row is None:
            session.add(SiteSetting(key=key, value=value))
        else:
            row.value = value
            session.add(row)
    return updated


def device_defaults(session: Session, model: str) -> DeviceDefaults:
    return session.get(DeviceDefaults, model) or DeviceDefaults(model=model)


def onboarding_method(connection: Connection, model: str | None, catalog) -> str | None:
    """S-6: the model's onboarding method, None when none is set (M-1's "none set")."""
    if not model:
        return None
    try:
        key = catalog.model(model).key
    except ValueError:
        return None
    return _ONBOARDING_METHOD.run(connection, {"model": key}).scalar()


_ONBOARDING_METHOD = Prepared(select(DeviceDefaults.onboarding_method).where(DeviceDefaults.model == bindparam("model")))


WEB_SECRET_KEY = "web_secret"


def web_secret(session: Session) -> str:
    """The admin UI's cookie-signing key: made once, shared by every process on this database.

    A ``site_setting`` row that ``SiteSettings`` does not know, so no settings
    page, CLI or API ever shows it (A-6). Two processes starting at once: the
    second insert fails on the key and reads the first one's secret.
    """
    row = session.get(SiteSetting, WEB_SECRET_KEY)
    if row is not None:
        return str(row.value)
    try:
        with session.begin_nested():
            session.add(SiteSetting(key=WEB_SECRET_KEY, value=secrets.token_urlsafe(48)))
    except IntegrityError:
        pass
    return str(session.get(SiteSetting, WEB_SECRET_KEY, populate_existing=True).value)
