"""Site settings, one row per key, and S-6's per-model device defaults."""

from __future__ import annotations

from typing import Any

from sqlalchemy import JSON, Column
from sqlmodel import Field, SQLModel


class SiteSetting(SQLModel, table=True):
    __tablename__ = "site_setting"
    key: str = Field(primary_key=True, max_length=64)
    value: Any = Field(sa_column=Column(JSON, nullable=True))


class DeviceDefaults(SQLModel, table=True):
    """S-6: per phone model, the default load and the onboarding method."""

    __tablename__ = "device_defaults"
    model: str = Field(primary_key=True, max_length=32)
    load: str | None = None  # None: the catalogue's default load
    onboarding_method: str | None = None  # auto_registration | activation_code; None: none set (M-1)
