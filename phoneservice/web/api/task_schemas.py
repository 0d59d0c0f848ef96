"""``/api/v1/tasks``' bodies and answers (F-6, F-6b..F-6d), as the OpenAPI document describes them."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from models.rules.tasks import ACTIONS as ACTIONS_ALLOWED


class TaskCreate(BaseModel):
    """F-6: a new task; names are unique, without spaces."""

    model_config = ConfigDict(extra="forbid", strict=True)  # JSON types as the schema says: 0 is not false
    name: str = Field(min_length=1, max_length=64, description='Letters, digits, "-", "_" and ".", like 8800-01-01-21')
    kind: Literal["license_and_device", "license_only"] = "license_and_device"
    direction: Literal["enterprise_to_mpp", "mpp_to_enterprise"] = "enterprise_to_mpp"
    include_unknown: bool = Field(default=False, description="Migrate devices of unknown eligibility too")


class TaskStart(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)  # JSON types as the schema says: 0 is not false
    tftp_server: str | None = Field(default=None, max_length=255,
                                    description="Where the phones fetch their <MAC>.lic; default: the task's last one")


class BarSegment(BaseModel):
    """One part of a task's progress bar, as a share of the devices the task migrates."""

    name: Literal["confirmed", "pushed", "failed", "cancelled"]
    label: str
    devices: int
    start: float = Field(description="Percent where it begins")
    width: float = Field(description="Percent it takes")


class TaskProgress(BaseModel):
    """A task's progress: devices done of the devices it migrates, and the count per state."""

    status: str
    paused: bool
    total: int
    done: int
    percent: int
    counts: dict[str, int]
    running: bool = Field(description="A runner pushes its batches in this process now")
    summary: str = Field(description='F-6b: the task in one line, as the admin UI says it ("Finished with 2 failed '
                                     '(48 pushed)")')
    confirmed: int = Field(description="F-6d: pushed devices whose phone reports the target load")
    to_confirm: int = Field(description="F-6d: pushed devices that were pushed a load")
    confirmation: str | None = Field(description="F-6d: pushed vs confirmed in words; null before any load is pushed")
    actions: list[Literal[ACTIONS_ALLOWED]] = Field(  # type: ignore[valid-type]
        description="F-6c: the whole-task actions the task's state allows now; the others answer 409")
    bar: list[BarSegment] = Field(description="F-6b: the bar's parts (confirmed, pushed, failed, cancelled)")


class TaskPublic(BaseModel):
    """A bulk migration task (F-6) with its progress."""

    name: str
    kind: str
    direction: str
    status: str
    paused: bool
    include_unknown: bool
    tftp_server: str | None
    batches_done: int
    upload_errors: int
    created_at: datetime
    updated_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    progress: TaskProgress


class TaskDevicePublic(BaseModel):
    """One device of a task: what was uploaded, its eligibility and its state."""

    mac: str
    model: str
    pid: str
    account_type: str
    username: str
    phone_number: str
    extension: str
    device_type: str
    location: str
    calling_plan: bool
    eligibility: str
    reason: str
    warnings: list[str]
    target_load: str | None
    state: str
    batch: int | None
    processed_at: datetime | None
    error: str
    license_rule: str | None
    phone_load: str | None
    confirmation: Literal["confirmed", "waiting"] | None = Field(
        description="F-6d: for a pushed device, whether its phone reports the target load; null: nothing to confirm")


class UploadRowError(BaseModel):
    row: int = Field(description="As a spreadsheet shows it: the header is row 1")
    column: str = Field(description='"" when the whole row is refused')
    message: str


class TaskUploadResult(BaseModel):
    """What an upload added and refused; ``errors_csv`` is the refused rows to fix and upload again."""

    added: int
    refused: int
    total: int = Field(description="Devices in the task now: uploads add up")
    errors: list[UploadRowError]
    errors_csv: str


class TaskActionResult(BaseModel):
    """What an action did, and the task's progress after it."""

    name: str
    action: str
    count: int | None = Field(description="Devices moved (cancel, retry, refresh); null for start, pause, resume")
    progress: TaskProgress
