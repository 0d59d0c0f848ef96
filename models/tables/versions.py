"""The site version stamps' rows (``models.storage.stamp`` moves them)."""

from __future__ import annotations

from sqlmodel import Field, SQLModel


class SiteVersion(SQLModel, table=True):
    __tablename__ = "site_version"
    id: int = Field(default=1, primary_key=True)
    version: int = 1
