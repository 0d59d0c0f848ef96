"""Site settings S-1..S-6 and the credential policy (A-4) as one typed, frozen value.

Every rule reads ``SiteSettings``; how they are stored is ``models.storage.settings``."""

from __future__ import annotations

import json
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, model_validator
from pydantic import Field as PField

from models.rules.refusals import Refused

YEAR_MINUTES = 366 * 24 * 60  # longer periods overflow datetime arithmetic


class SiteSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)  # shared from the cache: never changed in place

    # S-1
    replacement_policy: Literal["retain", "delete"] = "retain"
    # S-2
    security_profile_policy: Literal["mapped", "non_secure"] = "mapped"
    # S-8: what a config file says of a secure profile while the product issues no trust list
    secure_config_files: Literal["mapped", "non_secure"] = "non_secure"
    # S-3
    identification: Literal["primary_extension", "self_service_user_id"] = "primary_extension"
    # S-4
    authentication: Literal["none", "users_only", "users_and_admins"] = "users_and_admins"
    auth_code_hash: str | None = None
    ivr_languages: list[str] = PField(default_factory=lambda: ["en"], min_length=1)
    ivr_route_point: str = "8000"
    # S-5
    autoreg_enabled: bool = True
    autoreg_start_dn: str = "9000"
    autoreg_end_dn: str = "9099"
    autoreg_partition: str = ""
    autoreg_device_template: str = "Sample Universal Device Template"
    autoreg_line_template: str = "Sample Universal Line Template"
    # TFTP requests carry no model: a phone is recorded as this until it registers.
    autoreg_default_model: str = "8851"
    # Unified CM credential policy defaults (OL-18611)
    lockout_threshold: int = PField(default=3, ge=1, le=100)
    failure_reset_minutes: int = PField(default=30, ge=1, le=YEAR_MINUTES)
    lockout_minutes: int = PField(default=30, ge=0, le=YEAR_MINUTES)  # 0: an admin must unlock
    trivial_pin_check: bool = True
    pin_min_length: int = PField(default=4, ge=1, le=32)
    session_attempts: int = PField(default=3, ge=1, le=10)
    auth_code_max_failures: int = PField(default=5, ge=1)
    auth_code_block_minutes: int = PField(default=15, ge=1, le=YEAR_MINUTES)
    # a migration its new phone has not confirmed by registering within this time is flagged
    migration_confirm_minutes: int = PField(default=30, ge=1, le=YEAR_MINUTES)
    # U-1: how long after a migration (under retain) an administrator may undo it
    undo_window_hours: int = PField(default=72, ge=1, le=YEAR_MINUTES // 60)

    @model_validator(mode="after")
    def _range(self) -> "SiteSettings":
        start, end = self.autoreg_start_dn, self.autoreg_end_dn
        if not (start.isdigit() and end.isdigit() and len(start) == len(end) and int(start) <= int(end)):
            raise ValueError("autoreg_start_dn and autoreg_end_dn must be digits of one length, start <= end")
        return self

    def public(self) -> dict[str, Any]:
        """Everything but the hash (A-6); says only whether a code is set."""
        data = self.model_dump(exclude={"auth_code_hash"})
        data["auth_code_set"] = self.auth_code_hash is not None
        return data


EDITABLE = tuple(k for k in SiteSettings.model_fields if k != "auth_code_hash")


def parse_value(key: str, text: str) -> Any:
    """A CLI/form string -> the JSON value for ``key`` (lists as JSON or commas)."""
    if key not in SiteSettings.model_fields:
        raise Refused("bad_setting", f'unknown setting "{key}"')
    annotation = str(SiteSettings.model_fields[key].annotation)
    if "list" in annotation:
        text = text.strip()
        return json.loads(text) if text.startswith("[") else [p.strip() for p in text.split(",") if p.strip()]
    if "bool" in annotation:
        lowered = text.strip().lower()
        if lowered not in ("true", "false", "yes", "no", "1", "0", "on", "off"):
            raise Refused("bad_setting", f'setting "{key}": "{text}" is not true or false')
        return lowered in ("true", "yes", "1", "on")
    return text
