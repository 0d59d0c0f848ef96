"""F-6 bulk migration tasks: the task, its devices and its last upload."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Column, Index, UniqueConstraint, text
from sqlmodel import Field, SQLModel

from models.rules.clock import utcnow
from models.rules.firmware import Direction
from models.rules.tasks import DRAFT


class MigrationTask(SQLModel, table=True):
    __tablename__ = "migration_task"
    __table_args__ = (
        Index("uq_one_task_in_progress", "status", unique=True,
              sqlite_where=text("status = 'In progress'"), postgresql_where=text("status = 'In progress'")),
    )
    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(unique=True, max_length=64)
    kind: str = Field(default="license_and_device", max_length=32)  # license_and_device | license_only
    direction: str = Field(default=Direction.E2M.value, max_length=32)
    status: str = Field(default=DRAFT, max_length=32)
    include_unknown: bool = False  # digest: unknown-eligibility devices migrate only when the admin opts in
    paused: bool = False
    tftp_server: str | None = Field(default=None, max_length=255)  # where the phones fetch their licenses
    batches_done: int = 0
    upload_errors: int = 0  # rows refused by the last upload
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)
    started_at: datetime | None = None
    finished_at: datetime | None = None
    runner: str | None = Field(default=None, max_length=128)  # F-6a: host:pid:id of the process running it
    lease_until: datetime | None = None  # F-6a: renewed at every batch; past it, any process may resume


class TaskDevice(SQLModel, table=True):
    __tablename__ = "task_device"
    __table_args__ = (
        UniqueConstraint("task_id", "mac", name="uq_task_device_mac"),
        Index("ix_task_device_task_state", "task_id", "state"),
    )
    id: int | None = Field(default=None, primary_key=True)
    task_id: int = Field(foreign_key="migration_task.id", ondelete="CASCADE")
    account_type: str = Field(default="", max_length=16)  # USER | WORKSPACE; "" for license only
    username: str = Field(default="", max_length=255)
    phone_number: str = Field(default="", max_length=32)
    extension: str = Field(default="", max_length=16)
    device_type: str = Field(default="", max_length=16)
    model: str = Field(max_length=32)
    pid: str = Field(max_length=64)
    mac: str = Field(max_length=12, index=True)
    location: str = Field(default="", max_length=255)
    calling_plan: bool = False
    eligibility: str = Field(max_length=16)
    reason: str = ""
    warnings: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    target_load: str | None = Field(default=None, max_length=64)
    state: str = Field(max_length=16)
    batch: int | None = None
    processed_at: datetime | None = None
    error: str = ""
    license_rule: str | None = None
    phone_load: str | None = Field(default=None, max_length=64)  # what the phone reported at the last refresh


class TaskUpload(SQLModel, table=True):
    """A task's last upload, kept for its page and its errors CSV whichever process or restart asks."""

    __tablename__ = "task_upload"
    task_id: int = Field(foreign_key="migration_task.id", primary_key=True, ondelete="CASCADE")
    added: int
    total: int
    errors: list[list] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))  # [row, column, message]
    errors_csv: str = ""
    uploaded_at: datetime = Field(default_factory=utcnow)
