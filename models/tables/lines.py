"""Directory numbers, route partitions and the buttons of a device (C-1, C-2).

A shared line is one ``DirectoryNumber`` with several ``LineAppearance`` rows.
Buttons are ordered: line appearances first (``position`` 1..n), then feature
buttons (speed dials, BLF) in their own order. Which of them sit on the phone
and which on its key expansion modules follows from the model's line keys and
its KEMs, so a migration to another model only has to re-count, not re-place.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import JSON, Column, UniqueConstraint
from sqlmodel import Field, SQLModel


class DirectoryNumber(SQLModel, table=True):
    __tablename__ = "directory_number"
    __table_args__ = (UniqueConstraint("pattern", "partition", name="uq_dn_pattern_partition"),)
    id: int | None = Field(default=None, primary_key=True)
    pattern: str = Field(index=True, max_length=48)
    partition: str = Field(default="", max_length=64)  # "" is the <None> partition
    description: str = ""
    alerting_name: str = ""
    is_intercom: bool = False
    auto_registered: bool = False  # taken from the S-5 range for a new phone (T-4)


class LineAppearance(SQLModel, table=True):
    __tablename__ = "line_appearance"
    __table_args__ = (UniqueConstraint("device_id", "position", name="uq_line_position"),)
    id: int | None = Field(default=None, primary_key=True)
    device_id: int = Field(foreign_key="device.id", index=True, ondelete="CASCADE")
    dn_id: int = Field(foreign_key="directory_number.id", index=True)
    position: int  # 1 is the primary line
    label: str = ""
    display_name: str = ""
    ascii_display_name: str = ""
    line_template: str = ""
    settings: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))


class FeatureButton(SQLModel, table=True):
    """A speed dial (featureID 2) or BLF (featureID 21), after the lines."""

    __tablename__ = "feature_button"
    __table_args__ = (UniqueConstraint("device_id", "position", name="uq_feature_position"),)
    id: int | None = Field(default=None, primary_key=True)
    device_id: int = Field(foreign_key="device.id", index=True, ondelete="CASCADE")
    position: int
    feature: str = "speed_dial"  # speed_dial | blf
    target: str = ""
    label: str = ""


class LineAppearancePublic(SQLModel):
    position: int
    directory_number: str
    partition: str
    label: str
    display_name: str
    shared: bool = False
    intercom: bool = False
    on_kem: bool = False


class FeatureButtonPublic(SQLModel):
    position: int
    feature: str
    target: str
    label: str
