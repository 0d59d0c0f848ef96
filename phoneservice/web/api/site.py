"""``/api/v1/settings`` (S-1..S-7, A-4 policy, S-4 authentication code) and
``/api/v1/activation-codes`` (M-5). Neither ever answers with a hash or a stored code (A-6)."""

from __future__ import annotations

from models.rules.clock import utcnow
from models.tables.activation import ActivationCodePublic
from phoneservice.observe import log_event
from phoneservice.web.api.common import (
    PAGE_QUERY,
    about,
    blueprint,
    body,
    no_content,
    ok,
    operation,
    page_args,
    paged,
)
from phoneservice.web.api.schemas import (
    ActivationCodeCreate,
    ActivationCodeIssued,
    AuthCodePut,
    Page,
    SettingsPublic,
    SettingsUpdate,
)
from phoneservice.web.services import services


@blueprint.get("/settings")
@operation("The site settings", tag="settings", responses={200: SettingsPublic},
           description="Says whether an authentication code is set (`auth_code_set`), never the code (A-6).")
def get_settings():
    return ok(services().site_settings.current())


@blueprint.patch("/settings")
@operation("Change site settings", tag="settings", body=SettingsUpdate, responses={200: SettingsPublic},
           description="Any of the keys of GET /settings except `auth_code_set`; the result is checked as a "
                       "whole (e.g. the auto-registration range) and refused with 422 naming the setting.")
def patch_settings():
    changes = body(SettingsUpdate).model_dump(exclude_unset=True)
    updated = services().site_settings.change(**changes)
    log_event("api_settings_changed", keys=sorted(changes))
    return ok(updated)


@blueprint.put("/settings/auth-code")
@operation("Set the authentication code (S-4)", tag="settings", body=AuthCodePut, responses={204: None},
           description="0 to 20 digits; stored hashed, never returned or logged (A-6).")
def put_auth_code():
    data = body(AuthCodePut)
    with about(bad_auth_code="code"):
        services().site_settings.set_auth_code(data.code)
    log_event("api_auth_code_set")
    return no_content()


@blueprint.get("/activation-codes")
@operation("Activation codes (M-5)", tag="activation codes", query=PAGE_QUERY,
           responses={200: Page[ActivationCodePublic]},
           description="Newest first, with the last 4 digits (`hint`) to tell them apart; never the code.")
def list_activation_codes():
    limit, offset = page_args()
    rows = services().activation.codes(utcnow())
    return paged(rows[offset:offset + limit], len(rows), limit, offset)


@blueprint.post("/activation-codes")
@operation("Issue an activation code (M-5)", tag="activation codes", body=ActivationCodeCreate,
           responses={201: ActivationCodeIssued}, errors=(409,),
           description="Builds the user's new phone (named BAT...) and answers with the code, this once.")
def create_activation_code():
    data = body(ActivationCodeCreate)
    with about(unknown_user="user", unknown_model="model", unsupported_model="model"):
        code, row = services().activation.issue(data.user, data.model, utcnow(), days=data.days)
    log_event("api_activation_code_issued", user=data.user, model=row.model, id=row.id)
    return ok(ActivationCodeIssued(code=code, **row.model_dump()), 201)


@blueprint.delete("/activation-codes/<int:code_id>")
@operation("Revoke an activation code (M-5)", tag="activation codes", responses={204: None}, errors=(404,),
           description="An unused code's pre-built phone is deleted with it.")
def delete_activation_code(code_id: int):
    services().activation.revoke(code_id)
    log_event("api_activation_code_revoked", id=code_id)
    return no_content()
