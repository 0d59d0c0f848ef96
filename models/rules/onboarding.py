"""M-1 and M-2: what an unprovisioned phone's screen offers, as pure functions."""

from __future__ import annotations

import re

from models.rules.catalog import Catalog, UnknownModel

# M-1 (source Table 4): the first screen.
NONE = "none"  # the phone gets its own config, or auto-registers
PIN_ONLY = "extension_and_pin"  # straight to "enter primary extension and PIN"
BOTH = "provision_or_replace"  # "Provision a new phone" / "Replace an existing phone"
REPLACE_ONLY = "replace_only"  # "Replace an existing phone" only

MIN_SCREEN_LOAD = (12, 8, 1)  # M-2


def first_screen(preconfigured: bool, autoreg_enabled: bool, onboarding_method: str | None) -> str:
    """M-1. ``onboarding_method``: None (none set), ``auto_registration`` or ``activation_code``."""
    if preconfigured:
        return NONE
    if onboarding_method == "activation_code":
        return BOTH
    if autoreg_enabled:
        return NONE
    return REPLACE_ONLY if onboarding_method == "auto_registration" else PIN_ONLY


def load_version(load: str | None) -> tuple[int, ...] | None:
    """``sip88xx.14-2-1-0101-26`` / ``12.8.1`` / ``sip8832.12-8-1SR1-1`` -> (14, 2, 1) ... None when unreadable."""
    if not load:
        return None
    match = re.search(r"(\d+)[-.(](\d+)[-.(](\d+)", load.split(".", 1)[-1] if load[:1].isalpha() else load)
    return tuple(int(g) for g in match.groups()) if match else None


def screens_refusal(model_text: str | None, load: str | None, catalog: Catalog) -> str | None:
    """M-2: why this phone can't use the screens, or None when it can.

    Supported: 88xx, 78xx, 8832 and 7832 on load 12.8.1 or later; not video
    endpoints. An unknown load is given the benefit of the doubt (the phone
    would not show our screens at all if its firmware were too old).
    """
    if not model_text:
        return "This phone did not say which model it is, so it can't be set up from its screen. Ask your administrator"
    try:
        model = catalog.model(model_text)
    except UnknownModel:
        return f"{model_text} is not supported here. Ask your administrator to migrate this phone"
    if model.video:
        return f"{model.display_name} is a video endpoint: it is not supported here. Ask your administrator"
    if not model.screens_supported:
        return f"{model.display_name} is not supported here. Ask your administrator to migrate this phone"
    version = load_version(load)
    if version is not None and version < MIN_SCREEN_LOAD:
        return f"This phone runs {load}; phone migration needs 12.8.1 or later. Ask your administrator to upgrade it"
    return None
