"""``DevicePools``: the site's device pools and the date/time group each names (T-7), for the
doors (CLI, API), one transaction a method, public values out."""

from __future__ import annotations

from typing import Any

from sqlmodel import col, select

from models.rules.datetime_group import DEFAULT, checked
from models.rules.refusals import Refused
from models.storage.database import Database
from models.storage.devicepools import date_time_groups, save_date_time_group
from models.tables.devicepools import DevicePool
from models.tables.devices import Device


class DevicePools:
    def __init__(self, db: Database) -> None:
        self.db = db

    def list(self) -> list[dict[str, Any]]:
        """Every pool a phone names or the site holds a group for, by name: its group (the default
        one when the site holds none, ``configured`` false) and how many phones name it."""
        with self.db.read_session() as session:
            phones: dict[str, int] = {}
            for pool in session.exec(select(Device.device_pool)):
                phones[pool] = phones.get(pool, 0) + 1
            names = sorted(set(phones) | set(session.exec(select(DevicePool.name).order_by(col(DevicePool.name)))))
            groups = date_time_groups(session, names)
        return [{"name": name, "phones": phones.get(name, 0), "configured": name in groups,
                 "date_time_group": groups.get(name, DEFAULT).public()} for name in names]

    def set_group(self, pool: str, *, name: str, time_zone: str, olson_time_zone: str = "",
                  date_template: str = "M/D/Y", ntp_servers: list[str] | tuple[str, ...] = ()) -> dict[str, Any]:
        """Give ``pool`` a date/time group (made when the site has no such pool yet); every phone
        naming it gets it in its next config file. Refused("bad_datetime_group") says what is wrong."""
        pool = pool.strip()
        if not pool or len(pool) > 128:
            raise Refused("bad_datetime_group", "a device pool name of 1 to 128 characters is needed")
        group = checked(name, time_zone, olson_time_zone, date_template, list(ntp_servers))
        with self.db.session() as session:
            save_date_time_group(session, pool, group)
        return {"name": pool, "date_time_group": group.public()}
