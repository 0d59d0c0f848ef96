"""A clock a test sets and moves by hand (``clock.now``): what services and stores take as their ``clock``."""

from __future__ import annotations

from typing import Generic, TypeVar

T = TypeVar("T")


class HandClock(Generic[T]):
    def __init__(self, now: T) -> None:
        self.now = now

    def __call__(self) -> T:
        return self.now
