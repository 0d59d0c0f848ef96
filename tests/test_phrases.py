"""Counts as every door words them (issue #16: "Try again in 1 minutes")."""

from __future__ import annotations

import pytest

from models.rules.phrases import count, plural


@pytest.mark.parametrize("number,noun,said", [
    (1, "minute", "1 minute"), (2, "minute", "2 minutes"), (0, "device", "0 devices"),
    (1, "line key", "1 line key"), (5, "line key", "5 line keys"), (1, "entry", "1 entry"), (3, "entry", "3 entries"),
])
def test_a4_count_is_singular_for_one_only(number, noun, said):
    """A-4 (the lockout's minutes) and every other count: one takes the singular."""
    assert count(number, noun) == said


def test_c15_plural_of_the_nouns_the_plan_counts():
    """C-15: the plan's notes say "lines 6 and 7" and "line 7" through the same plural."""
    assert [plural(n) for n in ("line", "batch", "loss")] == ["lines", "batches", "losses"]
