"""What the caller hears for a refusal or a list of phones: the IVR's own words.

The engine gives refusal codes (``models.rules.refusals``) and candidates; this
module turns them into prompt names (``ivr/prompts.toml``). A code with no
entry here is heard as the generic error prompt.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

from models.rules.refusals import SAYS
from models.rules.selection import page, page_count

# Refused codes -> what the caller hears (A-5, A-7, D-3, P-1, C-12). A code every
# door words alike (models.rules.refusals.SAYS) plays the prompt of its own name,
# which says that sentence.
REFUSAL_PROMPTS: Mapping[str, tuple[str, ...]] = {
    "invalid_credentials": ("invalid_credentials",),
    "bad_entry": ("invalid_entry",),
    "locked": ("locked", "forgot_pin"),
    **{code: (code,) for code in SAYS},
}


def digit_prompts(text: str) -> tuple[str, ...]:
    return tuple(f"digit_{d}" for d in text if d.isdigit())


def page_prompts(choices: Sequence, number: int) -> tuple[str, ...]:
    """D-4: "for model 7 9 6 5, MAC ending A 1 B 2, press 1", up to 9 a page."""
    prompts: tuple[str, ...] = ("choose_phone",)
    for key, choice in enumerate(page(choices, number), 1):
        model = re.search(r"\d+", choice.model)
        if model:
            prompts += ("for_model",) + digit_prompts(model.group())
        hexes = [c for c in choice.mac.lower() if c in "0123456789abcdef"][-4:]
        prompts += ("mac_ending",) + tuple(f"digit_{c}" if c.isdigit() else f"letter_{c}" for c in hexes)
        prompts += ("press", f"digit_{key}")
    return prompts + (("more_phones",) if page_count(choices) > 1 else ("repeat_hint",))


def preview_prompts(losses: int, kem_moves: bool) -> tuple[str, ...]:
    """C-15: "N things will not carry over", "some lines move to the KEM", then the confirm question."""
    said: tuple[str, ...] = ("losses_intro",) + digit_prompts(str(losses)) if losses > 0 else ()
    return said + (("lines_to_kem",) if kem_moves else ()) + ("confirm",)
