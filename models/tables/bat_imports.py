"""E-4: a BAT import started in the admin UI, so its page answers from any web process or host."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Column, Index, text
from sqlmodel import Field, SQLModel

from models.rules.bat_imports import RUNNING


class BatImport(SQLModel, table=True):
    __tablename__ = "bat_import"
    __table_args__ = (  # one import at a time on the site: the database refuses a second running row
        Index("uq_one_bat_import_running", "state", unique=True,
              sqlite_where=text("state = 'running'"), postgresql_where=text("state = 'running'")),
    )
    id: str = Field(primary_key=True, max_length=32)  # unguessable: the page's address
    owner: str = Field(max_length=160)  # the administrator ("admin:<name>") who may see it
    file_name: str = Field(max_length=255)
    dry_run: bool = False
    state: str = Field(default=RUNNING, max_length=16)  # models.rules.bat_imports: running, done, ...
    runner: str = Field(max_length=128)  # host:pid of the web process running it
    started_at: datetime
    ended_at: datetime | None = None
    result: dict = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))  # summary, errors, message
