"""How every door words a count: "1 minute", "2 minutes", "0 devices".

One function, so no door says "Try again in 1 minutes" (issue #16): the
engine's refusals, the admin UI's messages and templates (the ``count``
filter) and the CLI's lines all count through it.
"""

from __future__ import annotations

IRREGULAR = {"entry": "entries", "batch": "batches", "loss": "losses", "key expansion module": "key expansion modules"}


def plural(noun: str) -> str:
    """The plural of an English noun this product counts."""
    return IRREGULAR.get(noun, noun + "s")


def count(number: int, noun: str) -> str:
    """``count(1, "minute")`` -> "1 minute"; any other number takes the plural."""
    return f"{number} {noun if number == 1 else plural(noun)}"
