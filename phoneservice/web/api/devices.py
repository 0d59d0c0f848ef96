"""``/api/v1/devices``: find, add, change and delete phones (C-11, C-13), and the
registration interface the call control feeds (DESIGN "Registration state", C-14)."""

from __future__ import annotations

from flask import url_for
from pydantic import BaseModel, Field

from models.tables.devices import DeviceCreate, DevicePublic, DeviceUpdate
from phoneservice.observe import log_event
from phoneservice.web.api.common import (
    PAGE_QUERY,
    about,
    blueprint,
    body,
    bool_arg,
    no_content,
    ok,
    operation,
    page_args,
    paged,
    query_param,
    str_arg,
)
from phoneservice.web.api.schemas import Page, RegistrationPublic, RegistrationPut
from phoneservice.web.services import services

SEARCH = query_param("q", {"type": "string", "maxLength": 100},
                     "Part of the name, MAC (any spelling), description, directory number, owner or model")
MIGRATED = query_param("migrated", {"type": "boolean"},
                       'true: only old phones kept and marked migrated ("Migrate (old phone)", C-13)')


@blueprint.get("/devices")
@operation("Find phones", tag="devices", query=[SEARCH, MIGRATED, *PAGE_QUERY],
           responses={200: Page[DevicePublic]})
def list_devices():
    limit, offset = page_args()
    migrated = bool_arg("migrated")
    items, total = services().phones.search_page(str_arg("q", 100), migrated=migrated, limit=limit, offset=offset)
    return paged(items, total, limit, offset)


@blueprint.post("/devices")
@operation("Add a phone", tag="devices", body=DeviceCreate, responses={201: DevicePublic}, errors=(409,),
           description="Named SEP + MAC (C-11). The model must be in the catalogue and run the protocol.")
def create_device():
    data = body(DeviceCreate)
    with about(unknown_model="model", bad_protocol="protocol", bad_profile="security_profile"):
        view = services().phones.add(data)
    return ok(view, 201, {"Location": url_for(".get_device", name=view.name)})


@blueprint.get("/devices/<name>")
@operation("One phone", tag="devices", responses={200: DevicePublic}, errors=(404,),
           description="The name in any case, or the bare MAC in any usual spelling.")
def get_device(name: str):
    return ok(services().phones.get(name))


@blueprint.patch("/devices/<name>")
@operation("Change a phone", tag="devices", body=DeviceUpdate, responses={200: DevicePublic}, errors=(404, 409),
           description="Only the fields sent change. `product_params` merges: a null value removes that "
                       "parameter. `load_override` null: the model's default load (T-5).")
def update_device(name: str):
    data = body(DeviceUpdate)
    return ok(services().phones.update(name, data.model_dump(exclude_unset=True)))


@blueprint.delete("/devices/<name>")
@operation("Delete a phone", tag="devices", responses={204: None}, errors=(404, 409),
           description="Its lines, buttons and KEMs go with it; unused auto-registration DNs return to the pool. "
                       "A pre-built activation-code phone takes its unused code with it (M-5).")
def delete_device(name: str):
    services().phones.delete(name)
    log_event("api_device_deleted", device=name)
    return no_content()


class RestartPublic(BaseModel):
    name: str
    restarted: bool = Field(description="The phone answered the restart NOTIFY (C-14); false: it takes its "
                                        "settings at its next restart or config poll")


@blueprint.post("/devices/<name>/restart")
@operation("Restart a phone (C-14)", tag="devices", responses={200: RestartPublic}, errors=(404,),
           description="The restart NOTIFY every door sends, through the registrar when there is one.")
def restart_device(name: str):
    svc = services()
    device = svc.phones.get(name)
    restarted = svc.restart(device.name)
    log_event("api_device_restart", device=device.name, notified=restarted)
    return ok({"name": device.name, "restarted": restarted})


@blueprint.put("/devices/<name>/registration")
@operation("Set a phone's registration state", tag="devices", body=RegistrationPut,
           responses={200: RegistrationPublic}, errors=(404,),
           description="Fed by the call control. `contact` (and `register_call_id`) is where a restart NOTIFY "
                       "reaches the phone after a migration (C-14); when not sent, they are cleared. `load` is "
                       "the firmware the phone reports (F-7's 79xx stepping stones); when not sent, it is kept.")
def put_registration(name: str):
    data = body(RegistrationPut)
    state = services().phones.set_registration(name, data.state, data.contact, data.register_call_id, data.load)
    return ok(RegistrationPublic(name=state.name, state=state.state, contact=state.contact,
                                 register_call_id=state.register_call_id, load=state.load))
