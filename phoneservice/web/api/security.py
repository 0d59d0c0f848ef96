"""``/api/v1/security-profiles``: C-3's inputs of each security profile (mode, TFTP-encrypted
config, transport, key order) and the universal profile a migration maps it to."""

from __future__ import annotations

from dataclasses import asdict
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool

from phoneservice.observe import log_event
from phoneservice.web.api.common import PAGE_QUERY, blueprint, body, ok, operation, page_args, paged
from phoneservice.web.api.schemas import Page
from phoneservice.web.services import services

Mode = Literal["non_secure", "authenticated", "encrypted"]
Transport = Literal["tcp", "udp", "tcp_udp", "tls"]
KeyOrder = Literal["rsa", "ec_preferred_rsa_backup", "rsa_preferred_ec_backup", "ec_only"]


class SecurityProfilePublic(BaseModel):
    name: str
    mode: Mode
    tftp_encrypted: bool
    transport: Transport
    key_order: KeyOrder
    universal: bool = Field(description="A universal profile: what C-3 maps to; fixed")
    phones: int = Field(ge=0)
    maps_to: str = Field(description="C-3: the universal profile a phone on this one migrates to (S-2 mapped)")


class SecurityProfilePut(BaseModel):
    model_config = ConfigDict(extra="forbid")
    mode: Mode
    tftp_encrypted: StrictBool = False
    transport: Transport
    key_order: KeyOrder = "rsa"


@blueprint.get("/security-profiles")
@operation("Security profiles and what C-3 maps them to", tag="settings", query=PAGE_QUERY,
           responses={200: Page[SecurityProfilePublic]})
def list_security_profiles():
    limit, offset = page_args()
    rows = [asdict(p) for p in services().security_profiles.list()]
    return paged(rows[offset:offset + limit], len(rows), limit, offset)


@blueprint.get("/security-profiles/<name>")
@operation("One security profile", tag="settings", responses={200: SecurityProfilePublic}, errors=(404,))
def get_security_profile(name: str):
    return ok(asdict(services().security_profiles.get(name)))


@blueprint.put("/security-profiles/<name>")
@operation("Make or change a security profile (C-3's inputs)", tag="settings", body=SecurityProfilePut,
           responses={200: SecurityProfilePublic},
           description="A universal profile can't be changed (422 `bad_profile`); phones on the profile "
                       "take the change with their next config file and their next migration.")
def put_security_profile(name: str):
    data = body(SecurityProfilePut)
    view = services().security_profiles.set(name, **data.model_dump())
    log_event("api_security_profile_set", profile=name)
    return ok(asdict(view))
