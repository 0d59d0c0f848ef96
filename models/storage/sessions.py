"""Screen sessions (issue: Phone Migration Service): short-lived, in the database.

A session is keyed by an unguessable id that travels in the screen URLs and is
tied to the device name the phone gave: a session id used by another phone is
refused. It holds the engine's ``Attempt`` (which never holds a PIN or a code)
and where the user is in the flow.

It is kept in the database rather than in a process's memory, so any web
process may serve a phone's next screen: the ``web.processes`` of one host
share one listening socket, and several hosts sit behind a load balancer,
neither of which keeps a phone on one process. A session is written only when
a screen changed it (``SessionStore``), never touches the site stamp
(``models.storage.stamp``), and ends with the migration's own transaction. Sessions
idle for longer than ``TTL_SECONDS`` are gone; at most ``MAX_SESSIONS`` rows
are kept (the oldest go first), so a storm of phones can't fill the disk.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import itertools
import re
import secrets
import threading
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any, Callable

from sqlalchemy import bindparam, delete, select, update

from models.rules.attempt import Attempt
from models.rules.clock import utcnow
from models.storage.database import Database
from models.storage.prepared import Prepared
from models.storage.settings import web_secret
from models.tables.sessions import ScreenSessionRow

TTL_SECONDS = 600
MAX_SESSIONS = 10_000
PRUNE_EVERY = 64  # rows written (per process) between two prunes


_T = ScreenSessionRow.__table__
_INSERT = Prepared.insert(_T)
_GET = Prepared(select(_T.c.state, _T.c.touched_at)
                .where(_T.c.id == bindparam("id"), _T.c.device == bindparam("device")))
_SAVE = Prepared(update(_T).where(_T.c.id == bindparam("sid"))
                 .values(state=bindparam("state"), touched_at=bindparam("now")))
_EXPIRE = delete(_T).where(_T.c.touched_at < bindparam("before"))
_MODEL = re.compile(r"^[A-Za-z0-9-]{1,24}$")
ENDED = {"ended": True}


@dataclass
class ScreenSession:
    id: str
    device: str
    attempt: Attempt
    model: str | None = None
    action: str = "replace"  # replace | provision
    chosen: str | None = None  # the old phone, once selected
    touched: datetime = field(default_factory=utcnow)
    stored: dict[str, Any] = field(default_factory=dict, repr=False)  # the state as last written, or as made
    written: bool = False  # a row exists
    ended: bool = False

    def state(self) -> dict[str, Any]:
        return {"attempt": self.attempt.dump(), "model": self.model, "action": self.action, "chosen": self.chosen}


class SessionStore:
    """Sessions in the ``screen_session`` table.

    A new session is not written: its id is signed (HMAC with the site's web
    secret, over the id, the time, the phone's model and the device name), so
    only an id the first screen gave this phone is taken, and a session that
    nothing changed yet (the menu, the extension form) costs no write. The row
    appears with the first change; ending a session leaves a tombstone until
    it idles out, so an ended session can't start over.
    """

    def __init__(self, db: Database, ttl: float = TTL_SECONDS, limit: int = MAX_SESSIONS,
                 clock: Callable[[], datetime] = utcnow, key: bytes | None = None) -> None:
        self.db, self.limit, self.clock = db, limit, clock
        self.ttl = timedelta(seconds=ttl)
        self._key = key
        self._saves = itertools.count(1)
        self._count_lock = threading.Lock()

    def key(self) -> bytes:
        if self._key is None:

            with self.db.session() as s:
                self._key = web_secret(s).encode()
        return self._key

    def _sign(self, body: str, device: str) -> str:
        digest = hmac.new(self.key(), f"{body}.{device}".encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest[:12]).decode()

    def create(self, device: str, attempt: Attempt, model: str | None) -> ScreenSession:
        """A session for ``device``; nothing is written until a screen changes it."""
        now = self.clock()
        model = model if model and _MODEL.match(model) else None
        body = f"{secrets.token_urlsafe(12)}.{int(now.timestamp()):x}.{model or ''}"
        session = _fresh(f"{body}.{self._sign(body, device)}", device, model, now)
        session.attempt = attempt  # written at the first save if it differs from a fresh one
        return session

    def get(self, session_id: str | None, device: str) -> ScreenSession | None:
        parts = (session_id or "").split(".")
        if len(parts) != 4 or len(session_id) > 80:
            return None
        body = ".".join(parts[:3])
        if not hmac.compare_digest(parts[3].encode(), self._sign(body, device).encode()):  # bytes: any text may come
            return None  # not an id the first screen gave this phone
        with self.db.read_connection() as c:
            row = _GET.run(c, {"id": session_id, "device": device}).first()
        now = self.clock()
        if row is None:  # nothing changed it yet: as the first screen made it
            try:
                made = datetime.fromtimestamp(int(parts[1], 16), timezone.utc)
            except (ValueError, OverflowError):
                return None
            if now - made > self.ttl:
                return None
            return _fresh(session_id, device, parts[2] or None, made)
        state, touched = row.state, _aware(row.touched_at)
        if state.get("ended") or now - touched > self.ttl:
            return None
        return ScreenSession(session_id, device, Attempt.load(state["attempt"]), state.get("model"),
                             state.get("action", "replace"), state.get("chosen"), touched, state, written=True)

    def save(self, session: ScreenSession) -> None:
        """Write the session when a screen changed it."""
        state = session.state()
        if state == session.stored:
            return
        with self.db.write_connection() as c:
            self._write(c, session, state)

    def end(self, session: ScreenSession, connection=None) -> None:
        """The flow is over: a tombstone, written in ``connection``'s transaction when
        given (the migration's), so the session ends exactly when the phone changes."""
        session.ended = True
        if connection is not None:
            self._write(connection, session, ENDED)
            return
        with self.db.write_connection() as c:
            self._write(c, session, ENDED)

    def _write(self, c, session: ScreenSession, state: dict[str, Any]) -> None:
        now = self.clock()
        values = {"sid": session.id, "state": state, "now": now}
        if not session.written or _SAVE.run(c, values).rowcount == 0:
            _INSERT.run(c, {"id": session.id, "device": session.device, "state": state, "touched_at": now})
            with self._count_lock:
                prune = (next(self._saves) - 1) % PRUNE_EVERY == 0  # the first of a process too
            if prune:
                self._prune(c, now)
        session.stored, session.touched, session.written = state, now, True

    def _prune(self, c, now: datetime) -> None:
        c.execute(_EXPIRE, {"before": now - self.ttl})
        beyond = select(_T.c.id).order_by(_T.c.touched_at.desc()).offset(self.limit)
        c.execute(delete(_T).where(_T.c.id.in_(beyond)))


def _fresh(session_id: str, device: str, model: str | None, made: datetime) -> ScreenSession:
    """A session as the first screen makes it: nothing in it to write yet."""
    session = ScreenSession(session_id, device, Attempt(door="screen", new_device=device, new_model=model), model,
                            touched=made)
    session.stored = session.state()
    return session


def _aware(when: datetime) -> datetime:
    """SQLite may give back naive datetimes; every time here is UTC."""
    return when if when.tzinfo is not None else when.replace(tzinfo=timezone.utc)
