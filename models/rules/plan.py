"""The plan: old device + target + settings -> the new device, losses, warnings.

A pure function over plain snapshots (no database, no clock), so every C-rule
is tested without storage and every door shows the same preview before it asks
for confirmation (C-15). ``models.services.migration`` applies a plan in one transaction.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from models.rules.catalog import (
    Catalog,
    PhoneModel,
    UnknownModel,
    standard_template_name,
)
from models.rules.outcomes import (
    EM_LOGGED_OUT,
    FEATURE_DROPPED,
    INTERCOM_STAYS,
    KEM_TOO_MANY,
    KEM_UNMIXABLE,
    KEM_UNSUPPORTED,
    LINES_DROPPED,
    LINES_TO_KEM,
    NEEDS_TRUST_LIST,
    PARAM_UNSUPPORTED,
    Note,
)
from models.rules.phrases import count, plural
from models.rules.refusals import Refused
from models.rules.security import UNIVERSAL_PROFILES, ProfileSpec, mapped_profile, trust_list_note

SESSION_LINE_MODE = "0"  # vendorConfig lineMode for Session Line Mode (docs/protocol.md: unconfirmed)
ALL_CALLS_ENABLED = "1"
STANDARD_SIP_PROFILE = "Standard SIP Profile"


@dataclass(frozen=True)
class LineSnapshot:
    position: int
    dn_id: int
    pattern: str
    partition: str
    label: str = ""
    display_name: str = ""
    ascii_display_name: str = ""
    line_template: str = ""
    settings: dict[str, Any] = field(default_factory=dict)
    is_intercom: bool = False


@dataclass(frozen=True)
class FeatureSnapshot:
    position: int
    feature: str
    target: str
    label: str = ""


@dataclass(frozen=True)
class DeviceSnapshot:
    """What the engine reads of a device; built by ``models.storage.migration_rows.snapshot``."""

    name: str
    model: str
    protocol: str
    uid: str = ""
    owner: str | None = None
    description: str = ""
    device_pool: str = "Default"
    calling_search_space: str = ""
    location: str = "Hub_None"
    common_profile: str = "Standard Common Phone Profile"
    sip_profile: str = ""
    device_template: str = ""
    user_locale: str = "English_United_States"
    network_locale: str = "United_States"
    em_enabled: bool = False
    em_logged_in_user: str | None = None
    cti_controlled: bool = False
    locked: bool = False
    registration: str = "unknown"
    migrated: bool = False
    template_name: str | None = None
    template_kind: str | None = None
    security: ProfileSpec | None = None
    product_params: dict[str, Any] = field(default_factory=dict)
    kems: tuple[str, ...] = ()
    lines: tuple[LineSnapshot, ...] = ()
    features: tuple[FeatureSnapshot, ...] = ()


@dataclass(frozen=True)
class Target:
    """C-15: a new MAC and either a phone type (model + protocol) or a template."""

    mac: str
    model: str | None = None
    protocol: str | None = None
    template: str | None = None  # a phone button template naming model and protocol
    description: str | None = None


@dataclass(frozen=True)
class PlannedButton:
    source_position: int  # position on the old device
    position: int  # position on the new device
    on_kem: bool


@dataclass
class Plan:
    old: DeviceSnapshot
    new_name: str
    new_model: str
    new_protocol: str
    template_name: str
    template_kind: str
    security_profile: str
    device: dict[str, Any]  # C-11 settings of the new device
    product_params: dict[str, Any]
    lines: list[PlannedButton]
    features: list[PlannedButton]
    kems: list[str]
    replacement_policy: str
    old_keeps_lines: bool  # retain + the old model supports shared lines (C-1)
    losses: list[Note] = field(default_factory=list)  # each also its English sentence (models.rules.outcomes)
    warnings: list[Note] = field(default_factory=list)

    def summary(self) -> list[str]:
        """What a door shows before confirmation: losses first, then warnings."""
        return self.losses + self.warnings


def resolve_target(target: Target, catalog: Catalog, template_lookup) -> tuple[PhoneModel, str, str | None]:
    """The target's model, protocol and (when chosen by template) template name.

    ``template_lookup(name) -> (model, protocol) | None`` reads templates.
    """
    template = None
    model_text, protocol = target.model, target.protocol
    if target.template:
        found = template_lookup(target.template)
        if found is None:
            raise Refused("unknown_template", f'no phone template named "{target.template}"')
        model_text, template_protocol = found
        if model_text is None:
            raise Refused("bad_target", f'template "{target.template}" names no phone model; give --model')
        protocol = protocol or template_protocol
        template = target.template
    if not model_text:
        raise Refused("bad_target", "give the new phone's model and protocol, or a phone template")
    try:
        model = catalog.model(model_text)
    except UnknownModel as exc:
        raise Refused("unknown_model", str(exc)) from None
    protocol = (protocol or model.protocols[0]).upper()
    if protocol not in model.protocols:
        raise Refused("bad_protocol", f"{model.display_name} does not run {protocol} (it runs {', '.join(model.protocols)})")
    return model, protocol, template


def plan(
    old: DeviceSnapshot,
    target: Target,
    new_name: str,
    catalog: Catalog,
    *,
    replacement_policy: str = "retain",
    security_policy: str = "mapped",
    secure_config_files: str = "non_secure",
    template_lookup=lambda name: None,
) -> Plan:
    """C-1..C-11: the new device, without touching storage."""
    if old.migrated:
        raise Refused("already_migrated")
    if new_name == old.name:
        raise Refused("same_device", "the new MAC address is the old phone's own")
    new_model, protocol, chosen_template = resolve_target(target, catalog, template_lookup)
    try:
        old_model = catalog.model(old.model)
    except UnknownModel:
        old_model = None
    # C-10
    if new_model.jabber:
        raise Refused("jabber_target", f"{new_model.display_name} is a Jabber client: phones are never migrated to it")
    if old_model is not None and old_model.video and not new_model.video:
        raise Refused(
            "video_to_audio",
            f"{old.name} is a video endpoint; it can only be migrated to a video endpoint, not a {new_model.display_name}",
        )

    losses: list[Note] = []
    warnings: list[Note] = []

    # C-2: the intercom DN moves only when the old phone is deleted.
    lines = list(old.lines)
    if replacement_policy == "retain":
        for line in (l for l in lines if l.is_intercom):
            losses.append(Note(INTERCOM_STAYS, f"intercom line {line.pattern} stays on the old phone (replacement policy: retain)",
                               pattern=line.pattern))
        lines = [l for l in lines if not l.is_intercom]

    kems = _plan_kems(old, new_model, catalog, losses)
    kem_buttons = sum(catalog.kem(k).capacity for k in kems)
    keys = new_model.line_keys
    line_plan, feature_plan = _place_buttons(lines, list(old.features), keys, kem_buttons)
    _report_buttons(lines, old.features, line_plan, feature_plan, keys, new_model, bool(kems), losses, warnings)

    template_name, template_kind = _plan_template(old, new_model, protocol, chosen_template)
    params = _plan_params(old, old_model, new_model, catalog, losses)

    security = old.security
    profile = mapped_profile(
        security.mode if security else None,
        security.tftp_encrypted if security else False,
        security.key_order if security else "rsa",
        security_policy,
    )
    device = {
        "description": target.description if target.description is not None else old.description,
        "device_pool": old.device_pool,
        "calling_search_space": old.calling_search_space,
        "location": old.location,
        "common_profile": old.common_profile,
        # C-7: a SIP phone from an SCCP one takes the SIP defaults.
        "sip_profile": old.sip_profile if (old.protocol == "SIP" and old.sip_profile) else (
            STANDARD_SIP_PROFILE if protocol == "SIP" else ""
        ),
        "device_template": old.device_template,
        "user_locale": old.user_locale,
        "network_locale": old.network_locale,
        "em_enabled": old.em_enabled,  # C-8
        "em_logged_in_user": None,
        "cti_controlled": old.cti_controlled,  # C-9
        "locked": old.locked and not (old_model is not None and old_model.video),  # C-10
    }
    mode = UNIVERSAL_PROFILES[profile].mode
    if note := trust_list_note(profile, mode, secure_config_files):  # S-8
        warnings.append(Note(NEEDS_TRUST_LIST, note, profile=profile, mode=mode, secure_config_files=secure_config_files))
    if old.em_logged_in_user:
        warnings.append(Note(EM_LOGGED_OUT, f"Extension Mobility user {old.em_logged_in_user} is logged out; "
                                            "log in again on the new phone", user=old.em_logged_in_user))
    old_keeps = replacement_policy == "retain" and (old_model.supports_shared_lines if old_model else True)
    return Plan(
        old=old,
        new_name=new_name,
        new_model=new_model.key,
        new_protocol=protocol,
        template_name=template_name,
        template_kind=template_kind,
        security_profile=profile,
        device=device,
        product_params=params,
        lines=line_plan,
        features=feature_plan,
        kems=kems,
        replacement_policy=replacement_policy,
        old_keeps_lines=old_keeps,
        losses=losses,
        warnings=warnings,
    )


def _plan_kems(old: DeviceSnapshot, new_model: PhoneModel, catalog: Catalog, losses: list[Note]) -> list[str]:
    """C-5: each old module to the KEM the new model takes; types never mixed."""
    kems: list[str] = []
    for old_kem in old.kems:
        new_kem = catalog.compatible_kem(old_kem, new_model.key)
        if new_kem is None:
            losses.append(Note(KEM_UNSUPPORTED, f"{new_model.display_name} takes no {old_kem} key expansion module: "
                                                "its settings are lost", kem=old_kem))
        elif kems and new_kem != kems[0]:
            losses.append(Note(KEM_UNMIXABLE, f"key expansion module {old_kem} cannot be mixed with {kems[0]}: "
                                              "its settings are lost", kem=old_kem))
        elif len(kems) >= new_model.kems.get(new_kem, 0):
            losses.append(Note(KEM_TOO_MANY, f"{new_model.display_name} takes at most {len(kems)} {new_kem} modules: "
                                             "one is lost", kem=new_kem))
        else:
            kems.append(new_kem)
    return kems


def _place_buttons(lines, features, keys: int, kem_buttons: int):
    """C-1: lines first, then feature buttons; past the phone's keys onto the KEMs."""
    capacity = keys + kem_buttons
    placed_lines, placed_features = [], []
    slot = 0
    for line in lines:
        slot += 1
        if slot <= capacity:
            placed_lines.append(PlannedButton(line.position, len(placed_lines) + 1, slot > keys))
    for feature in features:
        slot += 1
        if slot <= capacity:
            placed_features.append(PlannedButton(feature.position, len(placed_features) + 1, slot > keys))
    return placed_lines, placed_features


def _numbers(items) -> str:
    items = list(items)
    return ", ".join(items[:-1]) + " and " + items[-1] if len(items) > 1 else items[0]


def _report_buttons(lines, features, line_plan, feature_plan, keys, model, has_kem, losses, warnings) -> None:
    kept = {b.source_position for b in line_plan}
    moved = [str(i) for i, (line, b) in enumerate(zip(lines, line_plan), 1) if b.on_kem]
    dropped = [str(i) for i, line in enumerate(lines, 1) if line.position not in kept]
    has = f"Your new phone has {count(keys, 'line key')}"
    if moved:
        warnings.append(Note(LINES_TO_KEM, f"{has}; {_plural('line', moved)} will move to the KEM",
                             lines=[int(n) for n in moved]))
    if dropped:
        where = "its key expansion modules are full" if has_kem else "it has no key expansion module"
        losses.append(Note(LINES_DROPPED, f"{has} and {where}; {_plural('line', dropped)} will be dropped",
                           lines=[int(n) for n in dropped]))
    kept_features = {b.source_position for b in feature_plan}
    for feature in features:
        if feature.position not in kept_features:
            kind = "speed dial" if feature.feature == "speed_dial" else "BLF"
            losses.append(Note(FEATURE_DROPPED, f'{kind} "{feature.label or feature.target}" has no free button on a '
                                                f'{model.display_name} and is dropped', feature=feature.feature,
                               target=feature.target))


def _plural(noun: str, numbers: list[str]) -> str:
    return f"{noun if len(numbers) == 1 else plural(noun)} {_numbers(numbers)}"


def _plan_template(old: DeviceSnapshot, new_model: PhoneModel, protocol: str, chosen: str | None) -> tuple[str, str]:
    """C-4 (source Table 6): standard -> the new model's standard; universal and custom kept."""
    if chosen:
        kind = "standard" if chosen.startswith("Standard ") else "custom"
        return chosen, kind
    if old.template_kind in ("custom", "universal") and old.template_name:
        return old.template_name, old.template_kind
    return standard_template_name(new_model, protocol), "standard"


def _plan_params(
    old: DeviceSnapshot, old_model: PhoneModel | None, new_model: PhoneModel, catalog: Catalog, losses: list[str]
) -> dict[str, Any]:
    """C-6/C-7: keep what the new model defines, defaults for the rest.

    A parameter the new model lacks is reported only when the old phone had it
    set away from its own model's default: a default is no loss.
    """
    defaults = dict(new_model.product_params)
    params = {name: old.product_params.get(name, default) for name, default in defaults.items()}
    if "lineMode" in params:
        params["lineMode"] = old.product_params.get("lineMode", SESSION_LINE_MODE)
    if "allCallsOnPrimary" in params:
        params["allCallsOnPrimary"] = old.product_params.get("allCallsOnPrimary", ALL_CALLS_ENABLED)
    old_defaults = old_model.product_params if old_model else {}
    for name in sorted(set(old.product_params) - set(defaults)):
        if name in old_defaults and old.product_params[name] == old_defaults[name]:
            continue
        losses.append(Note(PARAM_UNSUPPORTED, f'product-specific parameter "{catalog.param_label(name)}" is not supported '
                                                  f'by {new_model.display_name}', param=name))
    return params
