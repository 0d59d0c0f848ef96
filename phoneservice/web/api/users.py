"""``/api/v1/users``: end users, their PIN (A-4, A-6) and unlocking (A-4).

A PIN goes in once and never comes back: the user's view says only whether one
is set (``has_pin``) and whether the user is locked.
"""

from __future__ import annotations

from flask import url_for

from models.rules.clock import utcnow
from models.tables.users import EndUserCreate, EndUserPublic, EndUserUpdate
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
    query_param,
    str_arg,
)
from phoneservice.web.api.schemas import Page, PinPut
from phoneservice.web.services import services

SEARCH = query_param("q", {"type": "string", "maxLength": 100},
                     "Part of the user ID, name, self-service user ID or primary extension")


@blueprint.get("/users")
@operation("Find users", tag="users", query=[SEARCH, *PAGE_QUERY], responses={200: Page[EndUserPublic]})
def list_users():
    limit, offset = page_args()
    items, total = services().directory.search_page(str_arg("q", 100), limit=limit, offset=offset, now=utcnow())
    return paged(items, total, limit, offset)


@blueprint.post("/users")
@operation("Add a user", tag="users", body=EndUserCreate, responses={201: EndUserPublic}, errors=(409,),
           description="`primary_extension` without `partition`: the one DN with that number (S-3). "
                       "`profile` must exist (S-7). A trivial `pin` is refused (A-4).")
def create_user():
    data = body(EndUserCreate)
    with about(bad_dn="primary_extension", bad_pin="pin", trivial_pin="pin"):
        view = services().directory.add(data, utcnow())
    return ok(view, 201, {"Location": url_for(".get_user", user_id=view.user_id)})


@blueprint.get("/users/<user_id>")
@operation("One user", tag="users", responses={200: EndUserPublic}, errors=(404,))
def get_user(user_id: str):
    return ok(services().directory.find(user_id, utcnow()))


@blueprint.patch("/users/<user_id>")
@operation("Change a user", tag="users", body=EndUserUpdate, responses={200: EndUserPublic}, errors=(404, 409),
           description="Only the fields sent change; null clears one.")
def update_user(user_id: str):
    data = body(EndUserUpdate)
    with about(bad_dn="primary_extension"):
        view = services().directory.update(user_id, data.model_dump(exclude_unset=True), utcnow())
    return ok(view)


@blueprint.put("/users/<user_id>/pin")
@operation("Set a user's PIN", tag="users", body=PinPut, responses={204: None}, errors=(404,),
           description="Stored hashed, never returned or logged (A-6); trivial PINs are refused with 422 (A-4).")
def put_pin(user_id: str):
    data = body(PinPut)
    with about(bad_pin="pin", trivial_pin="pin"):
        services().directory.set_pin(user_id, data.pin)
    log_event("api_set_pin", user=user_id)
    return no_content()


@blueprint.post("/users/<user_id>/unlock")
@operation("Unlock a user", tag="users", responses={200: EndUserPublic}, errors=(404,),
           description="Clears the failed-PIN count and the lockout (A-4).")
def unlock_user(user_id: str):
    view = services().directory.unlock(user_id, utcnow())
    log_event("api_unlocked", user=user_id)
    return ok(view)
