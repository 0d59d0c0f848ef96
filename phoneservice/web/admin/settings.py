"""Admin pages: the site settings S-1..S-5 and the credential policy (A-4),
device defaults per model (S-6) and user profiles (S-7).

Each section is its own form; a bad value re-shows that form with what was
typed and the message naming the field. The authentication code (S-4) has its
own form and is never displayed, only whether one is set (A-6).
"""

from __future__ import annotations

import re
import typing

from flask import flash, redirect, request, url_for

from models.rules.refusals import Refused
from models.rules.settings import SiteSettings, parse_value
from models.services.site import ONBOARDING_METHODS
from phoneservice.observe import log_event
from phoneservice.web.admin.blueprint import actor, blueprint, page
from phoneservice.web.services import services

SECTIONS = {
    "enterprise": ("Enterprise parameters (S-1 to S-3)",
                   ("replacement_policy", "security_profile_policy", "secure_config_files", "identification",
                    "undo_window_hours")),
    "self-provisioning": ("Self-provisioning (S-4)", ("authentication", "ivr_languages", "ivr_route_point")),
    "auto-registration": ("Auto-registration (S-5)",
                          ("autoreg_enabled", "autoreg_start_dn", "autoreg_end_dn", "autoreg_partition",
                           "autoreg_device_template", "autoreg_line_template", "autoreg_default_model")),
    "credential-policy": ("Credential policy (A-4)",
                          ("lockout_threshold", "failure_reset_minutes", "lockout_minutes", "trivial_pin_check",
                           "pin_min_length", "session_attempts", "auth_code_max_failures",
                           "auth_code_block_minutes")),
    "registration": ("Registration (R-6)", ("migration_confirm_minutes",)),
}
LABELS = {
    "replacement_policy": "When provisioning a replacement phone for an end user",
    "security_profile_policy": "Security profile for migrated phone",
    "secure_config_files": "Config file of a phone on a secure profile (this product issues no trust list: "
                           "non_secure keeps such phones working)",
    "identification": "User identification prompt",
    "undo_window_hours": "An administrator may undo a migration (under retain) within (hours)",
    "authentication": "Self-provisioning authentication",
    "ivr_languages": "IVR prompt languages, in order (comma separated)",
    "ivr_route_point": "IVR route-point extension",
    "autoreg_enabled": "Auto-registration enabled",
    "autoreg_start_dn": "Starting directory number",
    "autoreg_end_dn": "Ending directory number",
    "autoreg_partition": "Route partition of the range",
    "autoreg_device_template": "Universal device template",
    "autoreg_line_template": "Universal line template",
    "autoreg_default_model": "Model recorded until the phone registers",
    "migration_confirm_minutes": "Flag a migration the new phone has not confirmed by registering within (minutes)",
    "lockout_threshold": "Failed PINs before lockout",
    "failure_reset_minutes": "Reset the failure count after (minutes)",
    "lockout_minutes": "Lockout duration (minutes; 0: until an administrator unlocks)",
    "trivial_pin_check": "Refuse trivial PINs",
    "pin_min_length": "Minimum PIN length",
    "session_attempts": "Attempts per call or screen session",
    "auth_code_max_failures": "Authentication-code failures per device before a block",
    "auth_code_block_minutes": "Authentication-code block (minutes)",
}
_SETTING_IN_MESSAGE = re.compile(r'setting "([^"]+)"')


def widget(key: str) -> tuple[str, tuple[str, ...]]:
    """How a setting is edited: ("select", choices), ("checkbox", ()), ("number", ()) or ("text", ())."""
    annotation = SiteSettings.model_fields[key].annotation
    if typing.get_origin(annotation) is typing.Literal:
        return "select", typing.get_args(annotation)
    if annotation is bool:
        return "checkbox", ()
    return ("number", ()) if annotation is int else ("text", ())


def shown(value) -> str:
    return ", ".join(value) if isinstance(value, list) else str(value)


def _field_named(message: str, keys: tuple[str, ...]) -> str:
    """The setting a refusal is about: the one it quotes, else the first its text names."""
    quoted = _SETTING_IN_MESSAGE.search(message)
    if quoted and quoted.group(1) in keys:
        return quoted.group(1)
    rest = message[quoted.end():] if quoted else message
    return next((k for k in keys if k in rest), keys[0])


def _settings_page(status: int = 200, typed: dict | None = None, errors: dict | None = None, **context):
    current = services().site_settings.current()
    values = {k: shown(v) for k, v in current.items()}
    return page("settings.html", status, sections=SECTIONS, labels=LABELS, widget=widget, values=values,
                typed=typed or {}, errors=errors or {}, auth_code_set=current["auth_code_set"], **context)


@blueprint.get("/settings")
def settings():
    return _settings_page()


@blueprint.post("/settings/<section>")
def save_section(section: str):
    if section not in SECTIONS:
        return page("message.html", 404, title="Not found", message=f"no settings section {section}")
    keys = SECTIONS[section][1]
    typed = {k: ("true" if k in request.form else "false") if widget(k)[0] == "checkbox"
             else request.form.get(k, "").strip() for k in keys}
    try:
        changes = {k: parse_value(k, v) for k, v in typed.items()}
        services().site_settings.change(**changes)
    except Refused as refusal:
        field = _field_named(refusal.message, keys)
        return _settings_page(422, typed={section: typed}, errors={section: (field, refusal.message)})
    log_event("admin_settings_saved", section=section, keys=",".join(keys), actor=actor())
    flash(f"{SECTIONS[section][0]} saved.")
    return redirect(url_for(".settings") + f"#{section}")


@blueprint.post("/settings/auth-code")
def set_auth_code():
    code, again = request.form.get("code", ""), request.form.get("code_again", "")
    if code != again:
        return _settings_page(422, auth_code_error="The two codes are not the same; type the new code twice.")
    try:
        services().site_settings.set_auth_code(code)
    except Refused as refusal:
        return _settings_page(422, auth_code_error=refusal.message + ".")
    log_event("admin_auth_code_set", actor=actor())
    flash("Authentication code set.")
    return redirect(url_for(".settings") + "#self-provisioning")


# --- S-6 device defaults ---------------------------------------------------------------


def _defaults_page(status: int = 200, typed: dict | None = None, error: str | None = None):
    return page("device_defaults.html", status, rows=services().site_settings.device_defaults(), typed=typed,
                error=error, methods=ONBOARDING_METHODS)


@blueprint.get("/settings/device-defaults")
def device_defaults():
    return _defaults_page()


@blueprint.post("/settings/device-defaults")
def save_device_defaults():
    typed = {k: v.strip() for k, v in request.form.items() if k.startswith(("load:", "onboarding:"))}
    models = sorted({k.split(":", 1)[1] for k in typed})
    try:
        services().site_settings.set_device_defaults(
            {model: (typed.get(f"load:{model}"), typed.get(f"onboarding:{model}")) for model in models})
    except Refused as refusal:
        return _defaults_page(422, typed=typed, error=refusal.message)
    log_event("admin_device_defaults_saved", actor=actor())
    flash("Device defaults saved.")
    return redirect(url_for(".device_defaults"))


# --- S-7 user profiles -------------------------------------------------------------------


def _profiles_page(status: int = 200, typed: dict | None = None, error: str | None = None):
    return page("profiles.html", status, rows=services().site_settings.profiles(), typed=typed or {}, error=error)


@blueprint.get("/settings/profiles")
def profiles():
    return _profiles_page()


@blueprint.post("/settings/profiles")
def save_profile():
    form = request.form
    fields = {k: form.get(k, "") for k in ("phone_limit", "universal_device_template", "universal_line_template")}
    fields["allow_self_provisioning"] = "allow_self_provisioning" in form
    fields["allow_reassign_from_other_user"] = "allow_reassign_from_other_user" in form
    name, new = form.get("name", "").strip(), form.get("new") == "1"
    try:
        services().site_settings.save_profile(name, new=new, **fields)
    except Refused as refusal:
        return _profiles_page(422, typed={"name": name, "new": new, **fields}, error=refusal.message)
    log_event("admin_profile_saved", profile=name, actor=actor())
    flash(f'User profile "{name}" saved.')
    return redirect(url_for(".profiles"))

