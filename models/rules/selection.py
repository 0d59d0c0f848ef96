"""D-rules: which old phone a self-service caller replaces.

``choose`` is source Table 3 plus the rules' decisions (docs/rules.md), as a pure function.
"""

from __future__ import annotations

from dataclasses import dataclass

from models.rules.refusals import Refused

PAGE_SIZE = 9  # D-4: up to 9 entries a page (keys 1..9)


@dataclass(frozen=True)
class Candidate:
    name: str
    model: str
    description: str
    registered: bool

    @property
    def mac(self) -> str:
        return self.name[3:] if self.name.upper().startswith("SEP") else self.name


@dataclass(frozen=True)
class Selection:
    """Either ``chosen`` (migrate it, no question) or ``choices`` (show a list)."""

    chosen: Candidate | None = None
    choices: tuple[Candidate, ...] = ()


def choose(candidates: list[Candidate]) -> Selection:
    """D-3.

    More than 3 candidates -> list. Otherwise exactly one unregistered -> that
    one. A lone candidate still registered is refused (decided here). No
    candidate is refused. Otherwise -> list.
    """
    ordered = tuple(sorted(candidates, key=lambda c: c.name))
    if not ordered:
        raise Refused("no_old_phone")
    if len(ordered) > 3:
        return Selection(choices=ordered)
    unregistered = [c for c in ordered if not c.registered]
    if len(unregistered) == 1:
        return Selection(chosen=unregistered[0])
    if len(ordered) == 1:
        raise Refused("old_phone_registered")
    return Selection(choices=ordered)


def page(choices: tuple, number: int, size: int = PAGE_SIZE) -> tuple:
    """D-4: page ``number`` (0-based) of at most ``size`` entries (9 where a digit picks one)."""
    start = number * size
    return choices[start : start + size]


def page_count(choices: tuple, size: int = PAGE_SIZE) -> int:
    return max(1, -(-len(choices) // size))


def next_page(choices: tuple, number: int, size: int = PAGE_SIZE) -> int:
    """D-4: the page after ``number``; after the last, the first again."""
    return (number + 1) % page_count(choices, size)


def pick(choices: tuple, number: int, key: int, size: int = PAGE_SIZE):
    """D-4: the entry keyed ``key`` (1-based) on page ``number``, or None when that page has none."""
    shown = page(choices, number, size)
    return shown[key - 1] if 1 <= key <= len(shown) else None
