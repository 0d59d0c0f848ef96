"""E-4: an admin UI BAT import's states, and when a running one was abandoned (no storage here)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

RUNNING, DONE, REJECTED, REFUSED, FAILED = "running", "done", "rejected", "refused", "failed"

ABANDONED_AFTER = timedelta(hours=1)  # the largest file (10 MB) imports in well under a minute
KEEP_AFTER_END, KEEP_MAX = timedelta(hours=1), 50  # an ended import's page, and how many are kept

ABANDONED = "The server process running this import stopped before it ended: nothing was imported. Upload the file again."


def abandoned(started_at: datetime, now: datetime, runner_alive: bool | None) -> bool:
    """A running import nobody will end: its process is gone (``runner_alive`` False, known when it ran on
    this host), or it started longer ago than any import takes (its process on another host died). The
    import is one transaction, so its process's end rolled it back whole."""
    if started_at.tzinfo is None:  # SQLite gives back naive UTC
        started_at = started_at.replace(tzinfo=timezone.utc)
    return runner_alive is False or now - started_at > ABANDONED_AFTER
