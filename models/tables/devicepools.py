"""Device pools and the date/time group each names (T-7). Devices name their pool by
``device.device_pool``; a name with no row here gets the default group
(``models.rules.datetime_group.DEFAULT``)."""

from __future__ import annotations

from sqlalchemy import JSON, Column
from sqlmodel import Field, SQLModel


class DevicePool(SQLModel, table=True):
    __tablename__ = "device_pool"
    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(unique=True, index=True, max_length=128)
    date_time_group: str = Field(default="CMLocal", max_length=50)
    time_zone: str = Field(default="Greenwich Standard Time", max_length=64)
    olson_time_zone: str = Field(default="Etc/GMT", max_length=64)
    date_template: str = Field(default="M/D/Y", max_length=16)
    ntp_servers: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
