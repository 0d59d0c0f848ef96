"""C-13: every migration, every refusal and every abandoned attempt, and the one-copy guarantee (C-12).

The partial unique index on ``old_device_uid`` for successful records is the
guarantee that no locking mistake can break: one old phone is copied once.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Column, Index, text
from sqlmodel import Field, SQLModel

from models.rules.clock import utcnow

DOORS = ("ivr", "screen", "admin", "api", "bulk", "cli", "wave")


class MigrationRecord(SQLModel, table=True):
    __tablename__ = "migration_record"
    __table_args__ = (
        Index(
            "uq_one_successful_migration",
            "old_device_uid",
            unique=True,
            sqlite_where=text("outcome = 'migrated'"),
            postgresql_where=text("outcome = 'migrated'"),
        ),
    )
    id: int | None = Field(default=None, primary_key=True)
    at: datetime = Field(default_factory=utcnow, index=True)
    door: str
    action: str = "replace"  # replace | provision
    actor: str = ""
    old_device: str | None = Field(default=None, index=True)
    old_device_uid: str | None = None
    old_model: str | None = None
    new_device: str | None = None
    new_model: str | None = None
    outcome: str = "migrated"  # migrated | provisioned | refused | abandoned (C-13: the extension in details)
    code: str = ""
    message: str = ""
    warnings: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    details: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    # the new phone registered with its new line 1 after the migration; the old phone came back.
    confirmed_at: datetime | None = None
    old_returned_at: datetime | None = None


class MigrationRecordPublic(SQLModel):
    id: int | None = None  # the record's page and its undo (U-1) are reached by it
    at: datetime
    door: str
    action: str
    actor: str
    old_device: str | None
    old_model: str | None
    new_device: str | None
    new_model: str | None
    outcome: str
    code: str
    message: str
    warnings: list[str]
    confirmed_at: datetime | None = None
    old_returned_at: datetime | None = None
    # R-6, for migrations and provisionings: applied | confirmed | unconfirmed (not confirmed in the time allowed)
    confirmation: str | None = None
