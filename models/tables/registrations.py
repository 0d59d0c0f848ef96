"""R-3: each device's current registration as the registrar reported it.

One row per registered device, written on every REGISTER and refresh; the
``device`` table's ``registration``, ``sip_contact`` and ``register_call_id``
follow it (D-3 and C-14 read those). No config file reads this table, so its
writes never move the site stamp.
"""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Field, SQLModel

from models.rules.clock import utcnow


class Registration(SQLModel, table=True):
    __tablename__ = "registration"
    device_name: str = Field(primary_key=True, max_length=64)
    aor: str = Field(max_length=255)
    contact: str = Field(max_length=255)
    received: str | None = Field(default=None, max_length=255)  # where the registrar reaches the phone back
    transport: str = Field(max_length=8)  # udp | tcp | tls
    source: str = Field(max_length=64)  # ip:port the REGISTER came from
    call_id: str = Field(max_length=255)
    user_agent: str | None = Field(default=None, max_length=255)
    registered_at: datetime = Field(default_factory=utcnow)  # this registration's first REGISTER
    expires_at: datetime = Field(index=True)
    updated_at: datetime = Field(default_factory=utcnow)


class RegistrationPublic(SQLModel):
    device_name: str
    aor: str
    contact: str
    transport: str
    source: str
    user_agent: str | None
    registered_at: datetime
    expires_at: datetime
