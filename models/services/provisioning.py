"""What a phone's config file says, read from the database (T-1, T-4, T-5).

``device_config`` gathers one device into a plain ``DeviceConfig`` that
``phoneservice.configfiles.cnf`` renders without touching storage; ``auto_register`` is T-4.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from models.rules.catalog import Catalog, UnknownModel
from models.rules.datetime_group import DEFAULT, DateTimeGroup
from models.rules.firmware import next_79xx_step
from models.rules.names import device_name_for_mac
from models.rules.refusals import Refused
from models.rules.security import rendered_security
from models.rules.settings import SiteSettings
from models.services.site import LineSpec, create_device
from models.storage.config_rows import config_rows
from models.storage.devicepools import date_time_groups
from models.storage.settings import load_settings
from models.tables.devices import Device
from models.tables.lines import DirectoryNumber
from models.tables.settings import DeviceDefaults
from models.tables.templates import SecurityProfile


@dataclass(frozen=True)
class LineConfig:
    button: int
    dn: str
    partition: str
    label: str
    display_name: str
    shared: bool
    max_calls: int = 4
    busy_trigger: int = 2


@dataclass(frozen=True)
class FeatureConfig:
    button: int
    feature: str  # speed_dial | blf
    target: str
    label: str


@dataclass(frozen=True)
class KemConfig:
    model: str
    load: str  # the KEM's load from the catalogue, "" when it has none of its own
    lines: int = 0  # its line keys, all pages (deviceLine), 0 when the catalogue does not know it


@dataclass(frozen=True)
class DeviceConfig:
    name: str
    model: str
    model_display: str
    protocol: str
    device_pool: str
    description: str
    load: str
    security_mode: str
    transport: str
    user_locale: str
    network_locale: str
    sip_profile: str
    product_params: dict[str, Any]
    line_keys: int
    lines: tuple[LineConfig, ...] = ()
    features: tuple[FeatureConfig, ...] = ()
    kems: tuple[KemConfig, ...] = ()
    date_time: DateTimeGroup = DEFAULT  # the device pool's date/time group (T-7)


def device_load(device: Device, defaults: DeviceDefaults | None, catalog: Catalog) -> str:
    """T-5: the per-device override, else the model's default (S-6), else the catalogue's;
    F-7: a 7940/7960 that reports an SCCP load (``P003...``) a stepping stone or more
    behind gets the next stone, one per reboot. Going down (a stuck phone, T-5) takes
    no steps: the override is served as it is."""
    wanted = _wanted_load(device, defaults, catalog)
    if wanted and device.reported_load:
        try:
            return next_79xx_step(device.reported_load, wanted)
        except ValueError:  # a reported load that is no load name: serve what is wanted
            return wanted
    return wanted


def _wanted_load(device: Device, defaults: DeviceDefaults | None, catalog: Catalog) -> str:
    if device.load_override:
        return device.load_override
    if defaults is not None and defaults.load:
        return defaults.load
    try:
        return catalog.model(device.model).default_loads.get(device.protocol, "")
    except UnknownModel:
        return ""


def device_config(session: Session, name: str, catalog: Catalog) -> DeviceConfig | None:
    return device_configs(session, [name], catalog).get(name)


def device_configs(session: Session, names: list[str], catalog: Catalog) -> dict[str, DeviceConfig]:
    """Many devices in a fixed number of queries (a boot storm renders hundreds at once),
    read as column rows (``models.storage.config_rows``)."""
    rows = config_rows(session, names)
    if not rows.devices:
        return {}
    profiles = {p.id: p for p in session.exec(select(SecurityProfile))}
    defaults = {d.model: d for d in session.exec(select(DeviceDefaults))}
    groups = date_time_groups(session, (d.device_pool for d in rows.devices.values()))
    secure_config_files = load_settings(session).secure_config_files
    return {d.name: _config(d, catalog, profiles.get(d.security_profile_id), defaults.get(d.model),
                            rows.lines[i], rows.features[i], rows.kems[i], rows.appearances,
                            groups.get(d.device_pool, DEFAULT), secure_config_files)
            for i, d in rows.devices.items()}


def _config(device, catalog, profile, defaults, rows, feature_rows, kem_models, counts, date_time,
            secure_config_files) -> DeviceConfig:
    try:
        model = catalog.model(device.model)
        display, keys = model.display_name, model.line_keys
    except UnknownModel:
        display, keys = device.model, 1
    lines = tuple(
        LineConfig(
            button=i, dn=la.pattern, partition=la.partition, label=la.label or la.pattern,
            display_name=la.display_name or la.label or la.pattern, shared=counts.get(la.dn_id, 1) > 1,
            max_calls=int(la.settings.get("max_calls", 4)), busy_trigger=int(la.settings.get("busy_trigger", 2)),
        )
        for i, la in enumerate(rows, 1)
    )
    features = tuple(FeatureConfig(len(lines) + i, f.feature, f.target, f.label or f.target)
                     for i, f in enumerate(feature_rows, 1))
    # S-8: a secure profile is written Non-Secure unless the site chose its own mode
    mode, transport = rendered_security(profile.mode, profile.transport, secure_config_files) if profile else (
        "non_secure", "udp")
    return DeviceConfig(
        name=device.name, model=device.model, model_display=display, protocol=device.protocol,
        device_pool=device.device_pool, description=device.description,
        load=device_load(device, defaults, catalog),
        security_mode=mode, transport=transport,
        user_locale=device.user_locale, network_locale=device.network_locale, sip_profile=device.sip_profile,
        product_params=dict(device.product_params or {}), line_keys=keys, lines=lines, features=features,
        kems=tuple(_kem(catalog, k) for k in kem_models), date_time=date_time,
    )


def _kem(catalog: Catalog, kem: str) -> KemConfig:
    try:
        model = catalog.kem(kem)
    except UnknownModel:
        return KemConfig(kem, "")
    return KemConfig(kem, model.default_load, model.capacity)


def device_names(session: Session) -> list[str]:
    return list(session.exec(select(Device.name).order_by(col(Device.name))))


def default_loads(session: Session, catalog: Catalog) -> list[tuple[int, str, str]]:
    """XMLDefault.cnf.xml: (model number, "Cisco 8851", load) per model with a number."""
    overrides = {d.model: d.load for d in session.exec(select(DeviceDefaults)) if d.load}
    out = []
    for model in catalog.models():
        if model.model_number is None:
            continue
        load = overrides.get(model.key) or next(iter(model.default_loads.values()), "")
        if load:
            out.append((model.model_number, f"Cisco {model.key}", load))
    return sorted(out)


def next_free_dn(session: Session, settings: SiteSettings, skip: set[str] = frozenset()) -> str | None:
    start, end = int(settings.autoreg_start_dn), int(settings.autoreg_end_dn)
    width = len(settings.autoreg_start_dn)
    used = set(session.exec(select(DirectoryNumber.pattern).where(
        DirectoryNumber.partition == settings.autoreg_partition,
        col(DirectoryNumber.pattern) >= settings.autoreg_start_dn, col(DirectoryNumber.pattern) <= settings.autoreg_end_dn,
    )).all()) | set(skip)
    for number in range(start, end + 1):
        pattern = str(number).zfill(width)
        if pattern not in used:
            return pattern
    return None


def auto_register(session: Session, mac: str, catalog: Catalog, model: str | None = None) -> Device | None:
    """T-4: an unknown phone gets the next free DN of the range and the S-5 templates.

    None when auto-registration is off; Refused("autoreg_exhausted") when the
    range is used up. Two phones at once never share a DN: the DN's unique
    (pattern, partition) constraint decides, and the loser takes the next one.
    """
    settings = load_settings(session)
    if not settings.autoreg_enabled:
        return None
    name = device_name_for_mac(mac)
    existing = session.exec(select(Device).where(Device.name == name)).first()
    if existing is not None:
        return existing
    taken: set[str] = set()
    span = int(settings.autoreg_end_dn) - int(settings.autoreg_start_dn) + 1
    for _ in range(span):
        pattern = next_free_dn(session, settings, taken)
        if pattern is None:
            break
        try:
            with session.begin_nested():
                dn = DirectoryNumber(pattern=pattern, partition=settings.autoreg_partition, auto_registered=True,
                                     description=f"auto-registered {name}")
                session.add(dn)
        except IntegrityError:
            taken.add(pattern)
            continue
        return create_device(
            session, mac, model or settings.autoreg_default_model, catalog=catalog, auto_registered=True,
            description=f"Auto {pattern}", device_template=settings.autoreg_device_template,
            lines=[LineSpec(pattern, settings.autoreg_partition, label=pattern, display_name=pattern,
                            line_template=settings.autoreg_line_template)],
            registration="unregistered",
        )
    raise Refused("autoreg_exhausted", f"the auto-registration range {settings.autoreg_start_dn}-"
                                       f"{settings.autoreg_end_dn} is used up; {name} was not registered")
