"""U-1: the old phone's state kept with its migration record, so the migration can be undone.

One row per migration applied under ``retain``: the old phone before, both phones
right after (to tell whether either changed since), as JSON snapshots in the
format ``models.rules.undo`` describes (``format`` says which).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Column
from sqlmodel import Field, SQLModel


class MigrationSnapshot(SQLModel, table=True):
    __tablename__ = "migration_snapshot"
    record_id: int = Field(primary_key=True, foreign_key="migration_record.id", ondelete="CASCADE")
    format: int = 1
    new_device_uid: str = Field(max_length=32)
    before: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    old_after: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    new_after: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    undone_at: datetime | None = None
    undo_record_id: int | None = None  # the record (C-13) the undo wrote
