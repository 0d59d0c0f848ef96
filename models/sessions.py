"""Screen sessions (issue: Phone Migration Service): short-lived, in the database.

A session is keyed by an unguessable id that travels in the screen URLs and is
tied to the device name the phone gave: a session id used by another phone is
refused. It holds the engine's ``Attempt`` (which never holds a PIN or a code)
and where the user is in the flow.

It is kept in the database rather than in a process's memory, so any web
process may serve a phone's next screen: the ``web.processes`` of one host
share one listening socket, and several hosts sit behind a load balancer,
neither of which keeps a phone on one process. A session is written only when
a screen changed it, never touches the site stamp (``models.stamp``), and is
deleted when the flow ends. Sessions idle for longer than ``TTL_SECONDS`` are
gone; at most ``MAX_SESSIONS`` are kept (the oldest go first), so a storm of
first screens can't fill the disk.
"""

from __future__ import annotations

import itertools
import secrets
import threading
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any, Callable

from sqlalchemy import JSON, Column, bindparam, delete, insert, select, update
from sqlmodel import Field, SQLModel

from models.clock import utcnow
from models.database import Database
from models.selfservice import Attempt

TTL_SECONDS = 600
MAX_SESSIONS = 10_000
PRUNE_EVERY = 64  # creates (per process) between two prunes


class ScreenSessionRow(SQLModel, table=True):
    __tablename__ = "screen_session"
    id: str = Field(primary_key=True, max_length=32)
    device: str = Field(max_length=15)
    state: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    touched_at: datetime = Field(default_factory=utcnow, index=True)


_T = ScreenSessionRow.__table__
_INSERT = insert(_T)
_GET = select(_T.c.device, _T.c.state, _T.c.touched_at).where(_T.c.id == bindparam("id"))
_SAVE = update(_T).where(_T.c.id == bindparam("sid")).values(state=bindparam("state"), touched_at=bindparam("now"))
_END = delete(_T).where(_T.c.id == bindparam("sid"))
_EXPIRE = delete(_T).where(_T.c.touched_at < bindparam("before"))


@dataclass
class ScreenSession:
    id: str
    device: str
    attempt: Attempt
    model: str | None = None
    action: str = "replace"  # replace | provision
    chosen: str | None = None  # the old phone, once selected
    touched: datetime = field(default_factory=utcnow)
    stored: dict[str, Any] = field(default_factory=dict, repr=False)  # the state as last written
    ended: bool = False

    def state(self) -> dict[str, Any]:
        return {"attempt": self.attempt.dump(), "model": self.model, "action": self.action, "chosen": self.chosen}


class SessionStore:
    def __init__(self, db: Database, ttl: float = TTL_SECONDS, limit: int = MAX_SESSIONS,
                 clock: Callable[[], datetime] = utcnow) -> None:
        self.db, self.limit, self.clock = db, limit, clock
        self.ttl = timedelta(seconds=ttl)
        self._creates = itertools.count(1)
        self._count_lock = threading.Lock()

    def create(self, device: str, attempt: Attempt, model: str | None) -> ScreenSession:
        now = self.clock()
        session = ScreenSession(secrets.token_urlsafe(16), device, attempt, model, touched=now)
        session.stored = session.state()
        with self._count_lock:
            prune = (next(self._creates) - 1) % PRUNE_EVERY == 0  # the first create of a process too
        with self.db.write_connection() as s:
            s.execute(_INSERT, {"id": session.id, "device": device, "state": session.stored, "touched_at": now})
            if prune:
                self._prune(s, now)
        return session

    def get(self, session_id: str | None, device: str) -> ScreenSession | None:
        if not session_id or len(session_id) > 32:
            return None
        with self.db.read_connection() as s:
            row = s.execute(_GET, {"id": session_id}).first()
        if row is None or row.device != device or self.clock() - _aware(row.touched_at) > self.ttl:
            return None
        state = row.state
        return ScreenSession(session_id, device, Attempt.load(state["attempt"]), state.get("model"),
                             state.get("action", "replace"), state.get("chosen"), _aware(row.touched_at), state)

    def save(self, session: ScreenSession) -> None:
        """Write the session when a screen changed it (a session ended meanwhile stays ended)."""
        state = session.state()
        if state == session.stored:
            return
        now = self.clock()
        with self.db.write_connection() as s:
            s.execute(_SAVE, {"sid": session.id, "state": state, "now": now})
        session.stored, session.touched = state, now

    def end(self, session_id: str) -> None:
        with self.db.write_connection() as s:
            s.execute(_END, {"sid": session_id})

    def prune(self) -> None:
        with self.db.write_connection() as s:
            self._prune(s, self.clock())

    def _prune(self, s, now: datetime) -> None:
        s.execute(_EXPIRE, {"before": now - self.ttl})
        beyond = select(_T.c.id).order_by(_T.c.touched_at.desc()).offset(self.limit)
        s.execute(delete(_T).where(_T.c.id.in_(beyond)))

    def __len__(self) -> int:
        with self.db.read_connection() as s:
            return len(s.execute(select(_T.c.id)).all())


def _aware(when: datetime) -> datetime:
    """SQLite may give back naive datetimes; every time here is UTC."""
    return when if when.tzinfo is not None else when.replace(tzinfo=timezone.utc)
