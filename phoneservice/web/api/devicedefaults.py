"""``/api/v1/device-defaults``: S-6, each phone model's default load and onboarding method
(the same service as the admin UI's Device defaults form)."""

from __future__ import annotations

from dataclasses import asdict
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from phoneservice.observe import log_event
from phoneservice.web.api.common import PAGE_QUERY, about, blueprint, body, ok, operation, page_args, paged
from phoneservice.web.api.schemas import Page
from phoneservice.web.services import services

Onboarding = Literal["auto_registration", "activation_code"]


class DeviceDefaultsPublic(BaseModel):
    model: str
    display_name: str
    catalogue_load: str = Field(description="The load the catalogue gives the model")
    load: str | None = Field(description="The site's default load; null: the catalogue's")
    onboarding_method: Onboarding | None = Field(description="M-1; null: none set")


class DeviceDefaultsPut(BaseModel):
    model_config = ConfigDict(extra="forbid")
    load: str | None = Field(default=None, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$",
                             description="null: the catalogue's load")
    onboarding_method: Onboarding | None = Field(default=None, description="null: none set (M-1)")


def _rows() -> list[dict]:
    return [asdict(row) for row in services().site_settings.device_defaults()]


@blueprint.get("/device-defaults")
@operation("Device defaults per phone model (S-6)", tag="settings", query=PAGE_QUERY,
           responses={200: Page[DeviceDefaultsPublic]},
           description="Every catalogue phone model but the Jabber clients, with the site's load and onboarding "
                       "method.")
def list_device_defaults():
    limit, offset = page_args()
    rows = _rows()
    return paged(rows[offset:offset + limit], len(rows), limit, offset)


@blueprint.put("/device-defaults/<model>")
@operation("Set a phone model's device defaults (S-6)", tag="settings", body=DeviceDefaultsPut,
           responses={200: DeviceDefaultsPublic},
           description="Both fields are replaced; null or absent: the catalogue's load, no onboarding method set.")
def put_device_defaults(model: str):
    data = body(DeviceDefaultsPut)
    with about(bad_load="load", bad_onboarding="onboarding_method"):
        services().site_settings.set_device_defaults({model: (data.load, data.onboarding_method)})
    log_event("api_device_defaults_set", model=model)
    key = services().catalog.model(model).key
    return ok(next(r for r in _rows() if r["model"] == key))
