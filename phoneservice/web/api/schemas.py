"""The REST API's own request and response shapes, beside the models' public schemas
(``DevicePublic``, ``EndUserPublic``, ``MigrationRecordPublic``, ...). Every body is
a pydantic model, so the OpenAPI document is generated, not written twice.
None of them has a field for a PIN hash or a stored code (A-6).
"""

from __future__ import annotations

from typing import Annotated, Any, Generic, Literal, TypeVar

from annotated_types import Le
from pydantic import BaseModel, ConfigDict, Field, create_model

from models.rules.settings import EDITABLE, SiteSettings
from models.services.activation import VALID_DAYS
from models.tables.activation import ActivationCodePublic

T = TypeVar("T")


class FieldError(BaseModel):
    field: str
    message: str
    row: int | None = Field(default=None, description="An uploaded file's bad row (header row 1), e.g. a BAT import's")
    column: str | None = Field(default=None, description="With `row`: the column it concerns, empty for the whole row")


class Problem(BaseModel):
    """RFC 9457 problem details; ``code`` is the refusal's code (``models.rules.refusals.Refused``)."""

    type: str
    title: str
    status: int
    detail: str
    code: str
    instance: str
    errors: list[FieldError] | None = None


class Page(BaseModel, Generic[T]):
    items: list[T]
    total: int = Field(ge=0)
    limit: int
    offset: int
    next: str | None = Field(description="The next page's URL, null on the last page")


class RegistrationPut(BaseModel):
    """DESIGN "Registration state": what the call control knows of a phone's registration."""

    model_config = ConfigDict(extra="forbid")
    state: Literal["registered", "unregistered"]
    contact: str | None = Field(default=None, max_length=255, description="The phone's SIP Contact, e.g. "
                                "sip:9000@192.0.2.10:5060; where a restart NOTIFY goes (C-14)")
    register_call_id: str | None = Field(default=None, max_length=255,
                                         description="The Call-ID of the phone's REGISTER (Cisco service-control)")
    load: str | None = Field(default=None, max_length=64,
                             description="The firmware load the phone reports, e.g. P00305000500; drives a "
                                         "7940/7960's stepping stones (F-7). Kept when not sent.")


class RegistrationPublic(BaseModel):
    name: str
    state: str
    contact: str | None
    register_call_id: str | None
    load: str | None


class PinPut(BaseModel):
    model_config = ConfigDict(extra="forbid")
    pin: str = Field(repr=False, description="Digits; trivial PINs are refused (A-4). Never returned (A-6).")


class AuthCodePut(BaseModel):
    model_config = ConfigDict(extra="forbid")
    code: str = Field(repr=False, description="S-4: 0 to 20 digits. Never returned (A-6).")


class MigrateRequest(BaseModel):
    """C-15: the old phone, the new MAC and a phone type (model + protocol) or a phone template."""

    model_config = ConfigDict(extra="forbid")
    old: str = Field(min_length=1, max_length=64, description="The old phone's device name, e.g. SEP001122330001")
    mac: str = Field(min_length=1, max_length=32, description="The new phone's MAC (any usual spelling)")
    model: str | None = Field(default=None, max_length=32)
    protocol: str | None = Field(default=None, max_length=8)
    template: str | None = Field(default=None, max_length=128)
    description: str | None = Field(default=None, max_length=512)
    dry_run: bool = Field(default=False, description="Plan only: nothing changes and nothing is recorded")


class PlannedLine(BaseModel):
    position: int
    source_position: int
    on_kem: bool
    directory_number: str
    partition: str


class PlannedButton(BaseModel):
    position: int
    source_position: int
    on_kem: bool
    feature: str
    target: str


class MigrationPlanPublic(BaseModel):
    """What the engine did, or would do with ``dry_run`` (C-1..C-15)."""

    old: str
    old_model: str
    new_name: str
    model: str
    protocol: str
    template: str
    template_kind: str
    security_profile: str
    kems: list[str]
    lines: list[PlannedLine]
    features: list[PlannedButton]
    replacement_policy: str
    old_keeps_lines: bool
    losses: list[str]
    warnings: list[str]
    applied: bool
    restarted: bool | None = Field(description="C-14: the NOTIFY was answered; null for a dry run")


class ActivationCodeCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    user: str = Field(min_length=1, max_length=128)
    model: str = Field(min_length=1, max_length=32)
    days: int = Field(default=VALID_DAYS, ge=1, le=90)


class ActivationCodeIssued(ActivationCodePublic):
    code: str = Field(description="M-5: shown here once; only its hash is stored")


# Durations SiteSettings leaves unbounded: a huge one overflows the lockout arithmetic
# (``auth.is_locked``: now + lockout_minutes), so the API takes at most a year.
MINUTES_MAX = 366 * 24 * 60
UNBOUNDED_MINUTES = ("failure_reset_minutes", "lockout_minutes", "auth_code_block_minutes")


def _setting_type(name: str) -> Any:
    """A setting's type with its constraints (ranges, lengths) as ``SiteSettings`` declares them."""
    info = SiteSettings.model_fields[name]
    metadata = [*info.metadata, Le(MINUTES_MAX)] if name in UNBOUNDED_MINUTES else info.metadata
    return Annotated[info.annotation, *metadata] if metadata else info.annotation


# PATCH /settings: any EDITABLE key, none required; save_settings validates the whole object again.
SettingsUpdate = create_model(
    "SettingsUpdate", __config__=ConfigDict(extra="forbid"), **{n: (_setting_type(n), None) for n in EDITABLE},
)
# GET /settings: SiteSettings.public(), which says whether an authentication code is set, never its hash.
SettingsPublic = create_model(
    "SettingsPublic", **{n: (_setting_type(n), ...) for n in EDITABLE}, auth_code_set=(bool, ...),
)


class DateTimeGroupBody(BaseModel):
    """T-7: a device pool's date/time group, as GET shows it and PUT sets it."""

    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=50, description="e.g. HQ Eastern")
    time_zone: str = Field(min_length=1, max_length=64, description="as phones read it: Eastern Standard/Daylight Time")
    olson_time_zone: str = Field(default="", max_length=64, description="e.g. America/New_York")
    date_template: str = Field(default="M/D/Y", max_length=16, description="D/M/Y, M/D/Y or Y/M/D; YY; A")
    ntp_servers: list[Annotated[str, Field(max_length=50)]] = Field(default=[], max_length=4)


class DevicePoolPublic(BaseModel):
    name: str
    phones: int = Field(description="how many phones name this pool")
    configured: bool = Field(description="false: the site holds no group for it, the default one applies")
    date_time_group: DateTimeGroupBody


class UndoPublic(BaseModel):
    """U-1: what undoing a migration gives back to the old phone, or gave back."""

    record: int = Field(description="The migration record undone")
    old: str
    new_name: str = Field(description="The new device, deleted by the undo")
    lines: list[str] = Field(description="The old phone's lines as they come back: position: number (partition) label")
    features: list[str]
    kems: list[str]
    restored: list[str] = Field(description="The old phone's columns that change back: name: now -> then")
    applied: bool
    undo_record: int | None = Field(default=None, description="C-13: the record of the undo")
    restarted: bool | None = Field(default=None, description="C-14: the new phone answered the restart NOTIFY; "
                                                             "null for a preview")


class BatImportSummary(BaseModel):
    """What a BAT import created (or, for a dry run, would create: then nothing changed)."""

    format: Literal["all-details", "bat"] = Field(description="The file's format, told by its header")
    devices: int = Field(description="Phones imported (or that would be)")
    users_created: int
    dns_created: int
    shared_lines: int = Field(description="The file's DNs that are on more than one phone")
    templates_created: int
    security_profiles_created: int
    ignored_columns: list[str] = Field(description="Columns this site does not keep, once per family")
    dry_run: bool
    summary: str = Field(description="All of it in one line, as the CLI prints it")
