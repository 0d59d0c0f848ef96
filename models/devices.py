"""Devices (phones and soft clients) and their key expansion modules (C-5, C-11)."""

from __future__ import annotations

import re
import uuid
from datetime import datetime

from models.clock import utcnow
from typing import Any

from pydantic import ConfigDict, field_validator
from sqlalchemy import JSON, Column, UniqueConstraint, bindparam
from sqlalchemy.engine import Connection
from sqlmodel import Field, SQLModel, select

from models.errors import Refused
from models.prepared import Prepared

REGISTRATION_STATES = ("registered", "unregistered", "unknown")
_MAC_HEX = re.compile(r"^[0-9A-F]{12}$")
_DEVICE_NAME = re.compile(r"^SEP[0-9A-F]{12}$")


def normalize_mac(text: str) -> str:
    """A MAC in any usual spelling -> 12 upper-case hex digits, else Refused.

    Accepts ``9c57ad12a4e0``, ``9C:57:AD:12:A4:E0``, ``9c-57-ad-12-a4-e0``,
    ``9c57.ad12.a4e0`` and ``SEP9C57AD12A4E0``.
    """
    raw = (text or "").strip().upper()
    if raw.startswith("SEP"):
        raw = raw[3:]
    compact = re.sub(r"[:\-.]", "", raw)
    if not _MAC_HEX.match(compact) or (raw != compact and not _well_grouped(raw)):
        raise Refused("bad_mac", f'"{text}" is not a MAC address (12 hexadecimal digits)')
    return compact


def _well_grouped(raw: str) -> bool:
    return bool(
        re.fullmatch(r"([0-9A-F]{2}[:-]){5}[0-9A-F]{2}", raw) or re.fullmatch(r"([0-9A-F]{4}\.){2}[0-9A-F]{4}", raw)
    )


def device_name_for_mac(mac: str) -> str:
    """C-11: the new device is named SEP + MAC in upper case."""
    return "SEP" + normalize_mac(mac)


def normalize_device_name(text: str) -> str:
    """``sep9c57...`` or a bare MAC -> ``SEP9C57...``; other names kept as typed."""
    raw = (text or "").strip()
    if _DEVICE_NAME.match(raw.upper()) or _MAC_HEX.match(re.sub(r"[:\-.]", "", raw.upper())):
        return device_name_for_mac(raw)
    return raw


def is_phone_device_name(text: str) -> bool:
    return bool(_DEVICE_NAME.match(text or ""))



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


_START_FACTS = Prepared(select(Device.model, Device.load_override, Device.auto_registered)
                        .where(Device.name == bindparam("name")))


def start_facts(connection: Connection, name: str):
    """What the first screen needs of a phone (model, load_override, auto_registered), None when unknown.
    One prebuilt column query: the first screen is the busiest page (bench/screens.py)."""
    return _START_FACTS.run(connection, {"name": name}).first()


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
