"""Devices (phones and soft clients) and their key expansion modules (C-5, C-11)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from pydantic import ConfigDict, field_validator
from sqlalchemy import JSON, Column, UniqueConstraint
from sqlmodel import Field, SQLModel

from models.rules.clock import utcnow
from models.rules.names import is_phone_device_name, normalize_mac
from models.rules.refusals import Refused

REGISTRATION_STATES = ("registered", "unregistered", "unknown")


class DeviceBase(SQLModel):
    name: str = Field(unique=True, index=True, max_length=64)
    model: str = Field(max_length=32)  # catalogue key, e.g. "8851"
    protocol: str = "SIP"  # SIP | SCCP
    description: str = ""
    device_pool: str = "Default"
    calling_search_space: str = ""
    location: str = "Hub_None"
    common_profile: str = "Standard Common Phone Profile"
    sip_profile: str = ""
    device_template: str = ""  # the universal device template applied (S-5, S-7)
    user_locale: str = "English_United_States"
    network_locale: str = "United_States"
    em_enabled: bool = False
    em_logged_in_user: str | None = None
    cti_controlled: bool = False
    locked: bool = False
    registration: str = "unknown"
    load_override: str | None = None
    sip_contact: str | None = None  # where a restart NOTIFY reaches the phone (C-14), fed with the registration
    register_call_id: str | None = None  # the phone's REGISTER Call-ID, for Cisco service-control


class Device(DeviceBase, table=True):
    __tablename__ = "device"
    id: int | None = Field(default=None, primary_key=True)
    uid: str = Field(default_factory=lambda: uuid.uuid4().hex, unique=True, max_length=32)
    owner_id: int | None = Field(default=None, foreign_key="end_user.id", index=True)
    button_template_id: int | None = Field(default=None, foreign_key="phone_button_template.id")
    security_profile_id: int | None = Field(default=None, foreign_key="security_profile.id")
    product_params: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    migrated: bool = Field(default=False, index=True)
    successor: str | None = None
    auto_registered: bool = False
    created_at: datetime = Field(default_factory=utcnow)
    # The load the phone says it runs (fed by its registration); F-7 steps a 79xx from it.
    reported_load: str | None = Field(default=None, max_length=64)

    @property
    def mac(self) -> str | None:
        return self.name[3:] if is_phone_device_name(self.name) else None


class KemModule(SQLModel, table=True):
    __tablename__ = "kem_module"
    __table_args__ = (UniqueConstraint("device_id", "slot", name="uq_kem_slot"),)
    id: int | None = Field(default=None, primary_key=True)
    device_id: int = Field(foreign_key="device.id", index=True, ondelete="CASCADE")
    slot: int  # 1..3
    model: str  # KEM catalogue key


class DeviceCreate(SQLModel):
    model_config = ConfigDict(extra="forbid")
    mac: str
    model: str
    protocol: str = "SIP"
    description: str = ""
    owner: str | None = None
    device_pool: str = "Default"
    calling_search_space: str = ""
    location: str = "Hub_None"
    button_template: str | None = None
    security_profile: str | None = None
    product_params: dict[str, Any] = {}

    @field_validator("mac")
    @classmethod
    def _mac(cls, value: str) -> str:
        try:
            return normalize_mac(value)
        except Refused as exc:
            raise ValueError(exc.message) from None


class DeviceUpdate(SQLModel):
    model_config = ConfigDict(extra="forbid")
    description: str | None = None
    device_pool: str | None = None
    calling_search_space: str | None = None
    location: str | None = None
    registration: str | None = None
    load_override: str | None = None
    product_params: dict[str, Any] | None = None


class DevicePublic(DeviceBase):
    mac: str | None = None
    owner: str | None = None
    button_template: str | None = None
    security_profile: str | None = None
    product_params: dict[str, Any] = {}
    migrated: bool = False
    successor: str | None = None
    auto_registered: bool = False
    kems: list[str] = []
    lines: list[dict[str, Any]] = []
    # T-7: the device pool's date/time group (name, time_zone, olson_time_zone, date_template, ntp_servers)
    date_time_group: dict[str, Any] = {}
    # S-8: what the phone's secure profile needs that this product cannot issue; "" when non-secure
    security_note: str = ""
