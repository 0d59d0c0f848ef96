"""The one error every door translates: a refusal with a code and a sentence.

Doors map ``code`` to a prompt, a screen or an HTTP status; ``message`` is
already fit to show a person and never contains a PIN or a hash.
"""

from __future__ import annotations


class Refused(Exception):
    def __init__(self, code: str, message: str, *, final: bool = False) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.final = final  # the session must end (A-4 attempts, lockout)
        self.recorded = False  # C-13: written to the migration records already

    def __repr__(self) -> str:
        return f"Refused({self.code!r}, {self.message!r})"
