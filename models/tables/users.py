"""End users, user profiles (S-7) and credential state (A-4).

The PIN hash lives only in ``EndUser.pin_hash``; no schema here or elsewhere
exposes it (A-6).
"""

from __future__ import annotations

from datetime import datetime

from pydantic import ConfigDict
from sqlmodel import Field, SQLModel


class UserProfile(SQLModel, table=True):
    """S-7: what a user may provision for themselves."""

    __tablename__ = "user_profile"
    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(unique=True, index=True)
    allow_self_provisioning: bool = True
    phone_limit: int = 10
    allow_reassign_from_other_user: bool = False
    universal_device_template: str = "Sample Universal Device Template"
    universal_line_template: str = "Sample Universal Line Template"


class EndUserBase(SQLModel):
    user_id: str = Field(unique=True, index=True, max_length=128)
    self_service_id: str | None = Field(default=None, unique=True, index=True, max_length=32)
    first_name: str = ""
    last_name: str = ""
    primary_extension_id: int | None = Field(default=None, foreign_key="directory_number.id")
    profile_id: int | None = Field(default=None, foreign_key="user_profile.id")


class EndUser(EndUserBase, table=True):
    __tablename__ = "end_user"
    id: int | None = Field(default=None, primary_key=True)
    pin_hash: str | None = None

    @property
    def display_name(self) -> str:
        return " ".join(p for p in (self.first_name, self.last_name) if p) or self.user_id


class EndUserCreate(SQLModel):
    model_config = ConfigDict(extra="forbid")
    user_id: str
    self_service_id: str | None = None
    first_name: str = ""
    last_name: str = ""
    primary_extension: str | None = None
    partition: str | None = None
    profile: str | None = None
    pin: str | None = Field(default=None, repr=False)


class EndUserPublic(SQLModel):
    user_id: str
    self_service_id: str | None
    first_name: str
    last_name: str
    primary_extension: str | None = None
    profile: str | None = None
    has_pin: bool = False
    locked: bool = False


class EndUserUpdate(SQLModel):
    model_config = ConfigDict(extra="forbid")
    self_service_id: str | None = None
    first_name: str | None = None
    last_name: str | None = None
    primary_extension: str | None = None
    profile: str | None = None


class CredentialState(SQLModel, table=True):
    """A-4: failed PIN attempts per user across every door, and the lockout."""

    __tablename__ = "credential_state"
    user_id: int = Field(primary_key=True, foreign_key="end_user.id", ondelete="CASCADE")
    failures: int = 0
    first_failure_at: datetime | None = None
    locked_at: datetime | None = None


class AuthCodeThrottle(SQLModel, table=True):
    """A-4: authentication-code guessing, rate-limited per calling device."""

    __tablename__ = "auth_code_throttle"
    device_name: str = Field(primary_key=True, max_length=64)
    failures: int = 0
    window_start: datetime | None = None
    blocked_until: datetime | None = None


ADMIN_THROTTLE_PREFIX = "admin:"  # the admin UI's login counters share the table; no device is named so


