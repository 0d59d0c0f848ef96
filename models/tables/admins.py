"""Administrator accounts and API tokens."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Column
from sqlmodel import Field, SQLModel

from models.rules.clock import utcnow


class AdminAccount(SQLModel, table=True):
    __tablename__ = "admin_account"
    id: int | None = Field(default=None, primary_key=True)
    username: str = Field(unique=True, index=True, max_length=64)
    password_hash: str
    created_at: datetime = Field(default_factory=utcnow)
    disabled: bool = False
    role: str = Field(default="full", max_length=16)  # full | read_only (E-2)


class ApiToken(SQLModel, table=True):
    __tablename__ = "api_token"
    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=64)
    token_hash: str = Field(unique=True, index=True, max_length=64)
    scopes: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    created_at: datetime = Field(default_factory=utcnow)
    last_used_at: datetime | None = None
    revoked: bool = False
