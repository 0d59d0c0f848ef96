"""``/api/v1/device-pools``: each device pool's date/time group (T-7), the clock its phones'
config files carry."""

from __future__ import annotations

from phoneservice.observe import log_event
from phoneservice.web.api.common import PAGE_QUERY, blueprint, body, ok, operation, page_args, paged
from phoneservice.web.api.schemas import DateTimeGroupBody, DevicePoolPublic, Page
from phoneservice.web.services import services


@blueprint.get("/device-pools")
@operation("Device pools and their date/time groups (T-7)", tag="device pools", query=PAGE_QUERY,
           responses={200: Page[DevicePoolPublic]},
           description="Every pool a phone names or the site holds a group for; `configured` false: the default "
                       "group (CMLocal, Greenwich Standard Time, no NTP server) applies.")
def list_device_pools():
    limit, offset = page_args()
    pools = services().device_pools.list()
    return paged(pools[offset:offset + limit], len(pools), limit, offset)


@blueprint.put("/device-pools/<name>")
@operation("Set a device pool's date/time group (T-7)", tag="device pools", body=DateTimeGroupBody,
           responses={200: DevicePoolPublic}, errors=(422,),
           description="The pool is made when no phone names it yet; its phones take the group with their next "
                       "config file.")
def put_device_pool(name: str):
    data = body(DateTimeGroupBody)
    done = services().device_pools.set_group(name, name=data.name, time_zone=data.time_zone,
                                             olson_time_zone=data.olson_time_zone, date_template=data.date_template,
                                             ntp_servers=data.ntp_servers)
    log_event("api_device_pool_set", pool=done["name"])
    return ok(next(p for p in services().device_pools.list() if p["name"] == done["name"]))
