"""What a plan loses and warns about (C-15), as structured values.

A ``Note`` carries a ``code`` and the values it is about (``params``), so a
door can word it its own way: the IVR says "some lines move to the key
expansion module" when it sees ``LINES_TO_KEM``, a page or the API can show
the numbers. It is also a string, the English sentence the engine writes, so
a door or record that shows text needs nothing more; records keep that text.
"""

from __future__ import annotations

from typing import Any

# losses
INTERCOM_STAYS = "intercom_stays"  # C-2
KEM_UNSUPPORTED = "kem_unsupported"  # C-5: the new model takes no such module
KEM_UNMIXABLE = "kem_unmixable"
KEM_TOO_MANY = "kem_too_many"
LINES_DROPPED = "lines_dropped"  # C-4
FEATURE_DROPPED = "feature_dropped"
PARAM_UNSUPPORTED = "param_unsupported"  # C-6
# warnings
LINES_TO_KEM = "lines_to_kem"  # C-4
EM_LOGGED_OUT = "em_logged_out"  # C-8
NEEDS_TRUST_LIST = "needs_trust_list"  # S-8: a secure profile, and no trust list from this product

CODES = frozenset({INTERCOM_STAYS, KEM_UNSUPPORTED, KEM_UNMIXABLE, KEM_TOO_MANY, LINES_DROPPED, FEATURE_DROPPED,
                   PARAM_UNSUPPORTED, LINES_TO_KEM, EM_LOGGED_OUT, NEEDS_TRUST_LIST})


class Note(str):
    """One loss or warning: the English sentence, with ``code`` and ``params`` beside it."""

    code: str
    params: dict[str, Any]

    def __new__(cls, code: str, text: str, **params: Any) -> "Note":
        if code not in CODES:
            raise KeyError(f"plan note {code!r} is not in models.rules.outcomes.CODES")
        note = super().__new__(cls, text)
        note.code = code
        note.params = params
        return note

    def __reduce__(self):
        return (_rebuild, (self.code, str(self), self.params))


def _rebuild(code: str, text: str, params: dict[str, Any]) -> Note:
    return Note(code, text, **params)


def has(notes, code: str) -> bool:
    """Whether any of ``notes`` (a plan's losses or warnings) is ``code``."""
    return any(getattr(n, "code", None) == code for n in notes)
