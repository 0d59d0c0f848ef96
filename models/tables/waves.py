"""W-1..W-3: a replacement wave and its rows, one row an old phone to be replaced by a new MAC.

A row is planned when staged (its plan's summary kept in ``summary``, its losses in
``losses`` to compare with on apply) and applies when its new MAC first asks for
its config file (``models.services.waves``).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Column, UniqueConstraint
from sqlmodel import Field, SQLModel

from models.rules.clock import utcnow


class Wave(SQLModel, table=True):
    __tablename__ = "wave"
    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=64, unique=True)
    created: datetime = Field(default_factory=utcnow)
    created_by: str = ""
    errors: list[dict[str, Any]] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))


class WaveRow(SQLModel, table=True):
    __tablename__ = "wave_row"
    __table_args__ = (UniqueConstraint("wave_id", "row"),)
    id: int | None = Field(default=None, primary_key=True)
    wave_id: int = Field(foreign_key="wave.id", index=True, ondelete="CASCADE")
    row: int  # as a spreadsheet shows it: the header is row 1
    old_device: str = Field(max_length=64)
    new_device: str = Field(max_length=64, index=True)  # SEP + the new MAC
    model: str | None = None
    template: str | None = None
    description: str | None = None
    state: str = "staged"  # staged | applying | applied | failed | cancelled | held (W-3)
    reason: str = ""
    summary: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    losses: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    record_id: int | None = None  # the migration record (C-13) once applied or refused
    claimed_at: datetime | None = None  # W-2: when a fetch took the row to apply it
    changed: datetime = Field(default_factory=utcnow)
