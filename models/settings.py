"""Site settings S-1..S-6 and the credential policy (A-4), stored in the database.

One typed object, ``SiteSettings``, is what every rule reads. It is stored as
one row per key so an admin can change one value without a schema upgrade; a
bad value is refused with the key's name. (These are the site's rules; the
server process's own ports and paths are in ``phoneservice.config``.)
"""

from __future__ import annotations

import json
import weakref
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field as PField, ValidationError, model_validator
from sqlalchemy import JSON, Column, bindparam
from sqlalchemy.engine import Connection, Engine
from sqlmodel import Field, Session, SQLModel, select

from models.errors import Refused
from models.prepared import Prepared
from models.stamp import SETTINGS_BUMPED, settings_version


class SiteSetting(SQLModel, table=True):
    __tablename__ = "site_setting"
    key: str = Field(primary_key=True, max_length=64)
    value: Any = Field(sa_column=Column(JSON, nullable=True))


class DeviceDefaults(SQLModel, table=True):
    """S-6: per phone model, the default load and the onboarding method."""

    __tablename__ = "device_defaults"
    model: str = Field(primary_key=True, max_length=32)
    load: str | None = None  # None: the catalogue's default load
    onboarding_method: str = "auto_registration"  # auto_registration | activation_code


YEAR_MINUTES = 366 * 24 * 60  # longer periods overflow datetime arithmetic


class SiteSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)  # shared from the cache: never changed in place

    # S-1
    replacement_policy: Literal["retain", "delete"] = "retain"
    # S-2
    security_profile_policy: Literal["mapped", "non_secure"] = "mapped"
    # S-3
    identification: Literal["primary_extension", "self_service_user_id"] = "primary_extension"
    # S-4
    authentication: Literal["none", "users_only", "users_and_admins"] = "users_and_admins"
    auth_code_hash: str | None = None
    ivr_languages: list[str] = PField(default_factory=lambda: ["en"], min_length=1)
    ivr_route_point: str = "8000"
    # S-5
    autoreg_enabled: bool = True
    autoreg_start_dn: str = "9000"
    autoreg_end_dn: str = "9099"
    autoreg_partition: str = ""
    autoreg_device_template: str = "Sample Universal Device Template"
    autoreg_line_template: str = "Sample Universal Line Template"
    # TFTP requests carry no model: a phone is recorded as this until it registers.
    autoreg_default_model: str = "8851"
    # Unified CM credential policy defaults (OL-18611)
    lockout_threshold: int = PField(default=3, ge=1, le=100)
    failure_reset_minutes: int = PField(default=30, ge=1, le=YEAR_MINUTES)
    lockout_minutes: int = PField(default=30, ge=0, le=YEAR_MINUTES)  # 0: an admin must unlock
    trivial_pin_check: bool = True
    pin_min_length: int = PField(default=4, ge=1, le=32)
    session_attempts: int = PField(default=3, ge=1, le=10)
    auth_code_max_failures: int = PField(default=5, ge=1)
    auth_code_block_minutes: int = PField(default=15, ge=1, le=YEAR_MINUTES)

    @model_validator(mode="after")
    def _range(self) -> "SiteSettings":
        start, end = self.autoreg_start_dn, self.autoreg_end_dn
        if not (start.isdigit() and end.isdigit() and len(start) == len(end) and int(start) <= int(end)):
            raise ValueError("autoreg_start_dn and autoreg_end_dn must be digits of one length, start <= end")
        return self

    def public(self) -> dict[str, Any]:
        """Everything but the hash (A-6); says only whether a code is set."""
        data = self.model_dump(exclude={"auth_code_hash"})
        data["auth_code_set"] = self.auth_code_hash is not None
        return data


EDITABLE = tuple(k for k in SiteSettings.model_fields if k != "auth_code_hash")


_CACHE: "weakref.WeakKeyDictionary[Engine, tuple[int, SiteSettings]]" = weakref.WeakKeyDictionary()


def load_settings(reader: Session | Connection) -> SiteSettings:
    """The settings, from a per-engine cache kept under the settings stamp
    (``models.stamp``): one small read instead of every row, never stale, also
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
    """The settings outside any transaction (``models.database.Database``)."""
    with db.read_connection() as connection:
        return load_settings(connection)


_ALL_SETTINGS = select(SiteSetting.key, SiteSetting.value)


def _read_settings(reader: Session | Connection) -> SiteSettings:
    stored = dict(reader.execute(_ALL_SETTINGS).all())
    known = {k: v for k, v in stored.items() if k in SiteSettings.model_fields}
    return SiteSettings(**known)


def parse_value(key: str, text: str) -> Any:
    """A CLI/form string -> the JSON value for ``key`` (lists as JSON or commas)."""
    if key not in SiteSettings.model_fields:
        raise Refused("bad_setting", f'unknown setting "{key}"')
    annotation = str(SiteSettings.model_fields[key].annotation)
    if "list" in annotation:
        text = text.strip()
        return json.loads(text) if text.startswith("[") else [p.strip() for p in text.split(",") if p.strip()]
    if "bool" in annotation:
        lowered = text.strip().lower()
        if lowered not in ("true", "false", "yes", "no", "1", "0", "on", "off"):
            raise Refused("bad_setting", f'setting "{key}": "{text}" is not true or false')
        return lowered in ("true", "yes", "1", "on")
    return text


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
