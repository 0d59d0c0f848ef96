"""Screen sessions (issue: Phone Migration Service): short-lived, in memory.

A session is keyed by an unguessable id that travels in the screen URLs and is
tied to the device name the phone gave: a session id used by another phone is
refused. It holds the engine's ``Attempt`` (which never holds a PIN) and where
the user is in the flow. Nothing in it is needed by another process: a lost
session only sends the user back to the first screen.
"""

from __future__ import annotations

import secrets
import threading
import time
from dataclasses import dataclass, field

from models.selfservice import Attempt

TTL_SECONDS = 600
MAX_SESSIONS = 10_000


@dataclass
class ScreenSession:
    id: str
    device: str
    attempt: Attempt
    model: str | None = None
    action: str = "replace"  # replace | provision
    chosen: str | None = None  # the old phone, once selected
    created: float = field(default_factory=time.monotonic)
    touched: float = field(default_factory=time.monotonic)


class SessionStore:
    def __init__(self, ttl: float = TTL_SECONDS, limit: int = MAX_SESSIONS, clock=time.monotonic) -> None:
        self.ttl, self.limit, self.clock = ttl, limit, clock
        self._sessions: dict[str, ScreenSession] = {}
        self._lock = threading.Lock()

    def create(self, device: str, attempt: Attempt, model: str | None) -> ScreenSession:
        now = self.clock()
        with self._lock:
            self._expire(now)
            if len(self._sessions) >= self.limit:  # bounded: drop the oldest
                oldest = min(self._sessions.values(), key=lambda s: s.touched)
                del self._sessions[oldest.id]
            session = ScreenSession(secrets.token_urlsafe(16), device, attempt, model, created=now, touched=now)
            self._sessions[session.id] = session
            return session

    def get(self, session_id: str | None, device: str) -> ScreenSession | None:
        now = self.clock()
        with self._lock:
            session = self._sessions.get(session_id or "")
            if session is None or session.device != device or now - session.touched > self.ttl:
                return None
            session.touched = now
            return session

    def end(self, session_id: str) -> None:
        with self._lock:
            self._sessions.pop(session_id, None)

    def _expire(self, now: float) -> None:
        for key in [k for k, s in self._sessions.items() if now - s.touched > self.ttl]:
            del self._sessions[key]

    def __len__(self) -> int:
        return len(self._sessions)
