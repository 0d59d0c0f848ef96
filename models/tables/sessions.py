"""The screens' sessions (``models.storage.sessions`` reads and writes them)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Column
from sqlmodel import Field, SQLModel

from models.rules.clock import utcnow


class ScreenSessionRow(SQLModel, table=True):
    __tablename__ = "screen_session"
    id: str = Field(primary_key=True, max_length=80)
    device: str = Field(max_length=15)
    state: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    touched_at: datetime = Field(default_factory=utcnow, index=True)
