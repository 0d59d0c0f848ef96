"""One self-service attempt (a call or a screen session): what the engine knows so far. Holds no secret."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from models.rules.plan import Target
from models.rules.selection import Candidate


@dataclass
class Attempt:
    """One call or screen session. Holds no secret."""

    door: str  # ivr | screen
    new_device: str | None = None  # the phone the caller is on
    new_model: str | None = None  # when the phone has no record yet (screens)
    new_protocol: str = "SIP"
    failures: int = 0
    dn_id: int | None = None
    extension: str | None = None
    user_id: int | None = None
    user_name: str | None = None
    role: str | None = None  # "user" | "admin" once authenticated
    candidates: tuple[Candidate, ...] = field(default_factory=tuple)
    target: Target | None = None  # the new phone as the preview found it; the migration re-checks it

    def dump(self) -> dict:
        """Plain JSON values, for a screen session kept in the database (``models.storage.sessions``)."""
        data = asdict(self)
        data["candidates"] = list(data["candidates"])  # as JSON gives it back, so a reloaded attempt compares equal
        return data

    @classmethod
    def load(cls, data: dict) -> "Attempt":
        target = data.get("target")
        return cls(**{**data, "candidates": tuple(Candidate(**c) for c in data.get("candidates", ())),
                      "target": Target(**target) if target else None})

    @property
    def actor(self) -> str:
        who = "admin (authentication code)" if self.role == "admin" else (self.user_name or "")
        return f"{who} from {self.new_device or 'unknown device'}"
