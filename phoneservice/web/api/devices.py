"""``/api/v1/devices``: find, add, change and delete phones (C-11, C-13), and the
registration interface the call control feeds (DESIGN "Registration state", C-14)."""

from __future__ import annotations

from flask import url_for

from models.services import devices, reports
from models.storage.devices import find_device
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
    with services().db.read_session() as session:
        rows, total = devices.device_search(session, str_arg("q", 100), migrated=migrated,
                                         limit=limit, offset=offset)
        items = [reports.device_public(session, d) for d in rows]
    return paged(items, total, limit, offset)


@blueprint.post("/devices")
@operation("Add a phone", tag="devices", body=DeviceCreate, responses={201: DevicePublic}, errors=(409,),
           description="Named SEP + MAC (C-11). The model must be in the catalogue and run the protocol.")
def create_device():
    data = body(DeviceCreate)
    with about(unknown_model="model", bad_protocol="protocol", bad_profile="security_profile"), \
            services().db.session() as session:
        device = devices.add_device(session, data, services().catalog)
        view = reports.device_public(session, device)
    return ok(view, 201, {"Location": url_for(".get_device", name=view.name)})


@blueprint.get("/devices/<name>")
@operation("One phone", tag="devices", responses={200: DevicePublic}, errors=(404,),
           description="The name in any case, or the bare MAC in any usual spelling.")
def get_device(name: str):
    with services().db.read_session() as session:
        return ok(reports.device_public(session, find_device(session, name)))


@blueprint.patch("/devices/<name>")
@operation("Change a phone", tag="devices", body=DeviceUpdate, responses={200: DevicePublic}, errors=(404, 409),
           description="Only the fields sent change. `product_params` merges: a null value removes that "
                       "parameter. `load_override` null: the model's default load (T-5).")
def update_device(name: str):
    data = body(DeviceUpdate)
    with services().db.session() as session:
        device = devices.update_device(session, name, data.model_dump(exclude_unset=True))
        view = reports.device_public(session, device)
    return ok(view)


@blueprint.delete("/devices/<name>")
@operation("Delete a phone", tag="devices", responses={204: None}, errors=(404, 409),
           description="Its lines, buttons and KEMs go with it; unused auto-registration DNs return to the pool. "
                       "A pre-built activation-code phone takes its unused code with it (M-5).")
def delete_device(name: str):
    with services().db.session() as session:
        devices.remove_device(session, name)
    log_event("api_device_deleted", device=name)
    return no_content()


@blueprint.put("/devices/<name>/registration")
@operation("Set a phone's registration state", tag="devices", body=RegistrationPut,
           responses={200: RegistrationPublic}, errors=(404,),
           description="Fed by the call control. `contact` (and `register_call_id`) is where a restart NOTIFY "
                       "reaches the phone after a migration (C-14); when not sent, they are cleared. `load` is "
                       "the firmware the phone reports (F-7's 79xx stepping stones); when not sent, it is kept.")
def put_registration(name: str):
    data = body(RegistrationPut)
    with services().db.session() as session:
        device = devices.set_registration(session, name, data.state, data.contact, data.register_call_id, data.load)
        view = RegistrationPublic(name=device.name, state=device.registration, contact=device.sip_contact,
                                  register_call_id=device.register_call_id, load=device.reported_load)
    return ok(view)
