"""M-5 activation codes: the table and its public view."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Field, SQLModel

from models.rules.clock import utcnow


class ActivationCode(SQLModel, table=True):
    __tablename__ = "activation_code"
    id: int | None = Field(default=None, primary_key=True)
    code_hash: str = Field(unique=True, index=True, max_length=64)
    hint: str = Field(max_length=4)  # the last 4 digits, to tell codes apart in a list
    user_id: int = Field(foreign_key="end_user.id", index=True)
    model: str = Field(max_length=32)
    device_id: int | None = Field(default=None, foreign_key="device.id")
    created_at: datetime = Field(default_factory=utcnow)
    expires_at: datetime
    used_at: datetime | None = None
    used_by: str | None = None  # the device name it was bound to
    revoked: bool = False


class ActivationCodePublic(SQLModel):
    id: int
    hint: str
    user: str
    model: str
    created_at: datetime
    expires_at: datetime
    used_at: datetime | None
    used_by: str | None
    revoked: bool
    status: str
