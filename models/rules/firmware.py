"""The Enterprise <-> MPP firmware conversion planner and 79xx upgrade helpers.

Pure functions over facts kept as data in ``firmware.toml`` (docs/rules.md F-1..F-7,
T-5); an admin override file is deep-merged over it, so a wrong fact is fixed
in a file, not in code. Each function takes ``facts=load_facts(override)``
optionally; by default the packaged file, loaded once.

Decided here: a phone PID in neither table (``CP-8875-K9=``) is *ineligible*,
not *unknown*: the tables list every phone that converts. *Unknown* is for a
needed value (the hardware version) missing or unreadable. F-3 takes the
firmware from the PID unless the current load names the other one
(``sip88xx.12-0-3MPP0001-87`` on a ``CP-8841-K9=``): the phone was converted
earlier and may go back (overview FAQ, "Can I migrate it back").
"""

from __future__ import annotations

import functools
import ipaddress
import re
import tomllib
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from types import MappingProxyType
from typing import Any, Mapping

from models.rules.datafiles import deep_merge

_PACKAGED = Path(__file__).with_name("firmware.toml")

_PID = re.compile(r"^(?:CP-)?(\d{4})(NR)?((?:-[A-Z0-9]+)*)=?$")
_MPP_TOKENS = frozenset({"3PCC", "3PC", "3PW"})
_VID = re.compile(r"^V?(\d{1,3})$")
_LOAD = re.compile(
    r"""^(?:[a-z][a-z0-9_]*\.)?          # family prefix: sip88xx. sip8845_65.
        (\d+)[.-](\d+)                    # major, minor
        (?:[.-](\d+)|\((\d+)\))?          # maintenance: .1 -1 (1)
        (?:\s*SR(\d+)[a-z]?               # SR1
          |MPP(?:(\d\d)\d\d)?             # MPP0101: SR1
          |-(\d\d)\d\d)?                  # -0101: SR1
        (?:-\d+)?                         # build, ignored
        (?:\.loads)?$""", re.I | re.X)
_LOAD_79XX = re.compile(r"^P00\d(\d\d)(\d\d)(\d\d)(\d\d)$", re.I)
_MAC = re.compile(r"^[0-9A-F]{12}$|^[0-9A-F]{2}([:-])[0-9A-F]{2}(\1[0-9A-F]{2}){4}$|^([0-9A-F]{4}\.){2}[0-9A-F]{4}$")


class Direction(str, Enum):
    E2M = "enterprise_to_mpp"
    M2E = "mpp_to_enterprise"


@dataclass(frozen=True)
class Verdict:
    status: str  # "eligible" | "ineligible" | "unknown"
    reason: str  # a sentence a person can act on
    warnings: tuple[str, ...] = ()
    model: str | None = None
    target_load: str | None = None
    steps: tuple[str, ...] = ()  # loads to go through first, in order



def _freeze(value: Any) -> Any:
    if isinstance(value, Mapping):
        return MappingProxyType({k: _freeze(v) for k, v in value.items()})
    return tuple(_freeze(v) for v in value) if isinstance(value, list) else value


def load_facts(override: str | Path | None = None) -> Mapping[str, Any]:
    """The packaged facts with an admin's override file deep-merged over them, read-only.

    Every load name is checked here, so a typo fails at start, naming its key."""
    data = tomllib.loads(_PACKAGED.read_text(encoding="utf-8"))
    if override is not None:
        data = deep_merge(data, tomllib.loads(Path(override).read_text(encoding="utf-8")))
    tables = {"rules": data["rules"], "rules.audio_8800_v15": data["rules"]["audio_8800_v15"],
              **{f"models.{m}": spec for m, spec in data["models"].items()}}
    for where, table in tables.items():
        for key, load in table.items():
            try:
                if key.endswith("_load") or key.startswith("min_"):
                    _version(load)
            except (ValueError, TypeError) as exc:
                raise ValueError(f"firmware facts: {where}.{key} = {load!r} is not a load name") from exc
    if not all("{MAC}" in data["licenses"][d.value] for d in Direction):
        raise ValueError("firmware facts: each [licenses] pattern must contain {MAC}")
    return _freeze(data)


@functools.lru_cache(maxsize=1)
def default_facts() -> Mapping[str, Any]:
    """The packaged facts, loaded once."""
    return load_facts()


def parse_pid(pid: str) -> tuple[str, bool]:
    """F-3: a PID -> (model, is_mpp): ``CP-8851-3PCC-K9=`` -> ``("8851", True)``.

    MPP when a ``3PCC``, ``3PC`` or ``3PW`` token follows the model number.
    ``NR`` belongs to the model (``CP-8851NR-K9=``, ``CP-8832-NR-K9=`` ->
    ``8851NR``, ``8832NR``); other tokens (``K9``, regions) are ignored. Any
    case; ``CP-`` and the trailing ``=`` are optional. Not a PID -> ValueError."""
    match = _PID.match(str(pid or "").strip().upper())
    if not match:
        raise ValueError(f'"{pid}" is not a Cisco IP phone PID (like CP-8841-K9=)')
    number, nr, rest = match.groups()
    tokens = rest.split("-")[1:]
    if "NR" in tokens:
        nr, tokens = "NR", [t for t in tokens if t != "NR"]
    return number + (nr or ""), any(t in _MPP_TOKENS for t in tokens)


def parse_vid(vid: str | None) -> int | None:
    """F-1: a hardware version from the label: ``V03``, ``v3``, ``03`` -> 3.

    None or blank -> None (not given); anything else -> ValueError."""
    if vid is None or not str(vid).strip():
        return None
    match = _VID.match(str(vid).strip().upper())
    if not match:
        raise ValueError(f'"{vid}" is not a hardware version (like V03)')
    return int(match.group(1))


def _version(load: str) -> tuple[int, ...]:
    text = str(load).strip()
    if match := _LOAD_79XX.match(text):
        return tuple(int(g) for g in match.groups())
    match = _LOAD.match(text)
    if not match:
        raise ValueError(f'"{load}" is not a load name or version (like 14.2.1SR1)')
    major, minor, dotted, bracketed, sr, mpp_sr, ent_sr = match.groups()
    return int(major), int(minor), int(dotted or bracketed or 0), int(sr or mpp_sr or ent_sr or 0)


def compare_loads(a: str, b: str) -> int:
    """F-4: -1, 0 or 1 as load ``a`` is older than, the same as, or newer than ``b``.

    Accepted: a version (``11.3.3``, ``14.1``, ``12.0.3SR1``, ``14.2(1)SR1``),
    a load name with a family prefix (``sip88xx.14-2-1SR1-1``,
    ``sip88xx.14-2-1-0101-26``, ``sip88xx.12-0-3MPP0001-87``, ``.loads``
    optional) whose 4-digit code starts with the SR number (``0101`` = SR1,
    so Table 7's 14-2-1-0101-26 is 14.2.1SR1 as its header says), and a 79xx
    load ID (``P00308000900`` = 8.0.9.0). The build number is ignored: one
    release compares equal across model families. Only numbers are compared,
    so compare MPP with MPP and Enterprise with Enterprise. Else ValueError."""
    va, vb = _version(a), _version(b)
    return (va > vb) - (va < vb)


def _firmware_of(load: str | None) -> str | None:
    """The firmware a full load name reveals ("mpp" | "enterprise"); None for a bare version."""
    text = str(load or "").strip()
    if not re.match(r"^[a-z][a-z0-9_]*\.\d", text, re.I):
        return None
    return "mpp" if "MPP" in text.upper() else "enterprise"


def target_load(model: str, direction: Direction, cloud: bool = False, *,
                facts: Mapping[str, Any] | None = None) -> str | None:
    """F-4: the load a conversion installs: Table 6 (to MPP), Table 7 (to Enterprise).

    ``cloud`` picks the digest's cloud-upgrade load; the digest names them for
    Enterprise -> MPP only, so M2E with ``cloud`` -> None. ``model`` is a model
    number or a PID. A model that does not convert that way -> None."""
    facts = facts or default_facts()
    direction = Direction(direction)
    try:
        model = parse_pid(model)[0]
    except ValueError:
        model = str(model or "").strip().upper()
    spec = facts["models"].get(model)
    if spec is None or not _converts(spec, direction):
        return None
    if direction is Direction.M2E:
        return None if cloud else spec.get("enterprise_load")
    return spec.get("cloud_load" if cloud else "mpp_load")


def _converts(spec: Mapping[str, Any], direction: Direction) -> bool:
    """F-1/F-2: a Table 1 (or ``e2m = true``) or Table 2 entry for this direction."""
    return any(spec.get(k) for k in (("e2m_pid", "e2m") if direction is Direction.E2M else ("m2e_pid",)))


def eligibility(pid: str, vid: str | None, current_load: str | None, direction: Direction, *,
                facts: Mapping[str, Any] | None = None) -> Verdict:
    """F-1 (Table 1, VID limits, never-eligible models, 8832 warnings, 8800 audio
    V15+), F-2 (Table 2, 8832 on 12.0.3SR1 first), F-3 (the PID tells the
    firmware), F-4 (14.2.1SR1 before Enterprise -> MPP; target loads).

    A VID that no rule of the model and direction reads is ignored."""
    facts = facts or default_facts()
    direction = Direction(direction)
    try:
        model, mpp_pid = parse_pid(pid)
    except ValueError as exc:
        return Verdict("ineligible", f"{exc}: read the PID on the label on the back of the phone.")
    source, goal = ("Enterprise", "MPP") if direction is Direction.E2M else ("MPP", "Enterprise")
    running = _firmware_of(current_load) or ("mpp" if mpp_pid else "enterprise")
    warnings: list[str] = []
    if running != source.lower():
        why = (f"{pid} runs {current_load}" if _firmware_of(current_load) else f"{pid} is an MPP phone "
               "(3PCC/3PC/3PW after the model number, F-3)" if mpp_pid else f"{pid} is an Enterprise phone (F-3)")
        return Verdict("ineligible", f"{why}: it is already {goal}, nothing to convert.", model=model)
    if mpp_pid != (direction is Direction.M2E):
        warnings.append(f"{pid} was converted to {source} firmware earlier: it can go back; "
                        "whether it needs a license depends on the firmware it was converted with (overview FAQ).")
    rules, spec = facts["rules"], facts["models"].get(model)
    table = "Table 1" if direction is Direction.E2M else "Table 2"
    if direction is Direction.E2M and model in rules["never_e2m"]:
        return Verdict("ineligible", f"The {model} can never convert to MPP firmware (F-1): "
                                     "replace it with an MPP phone.", model=model)
    if spec is None or not _converts(spec, direction):
        return Verdict("ineligible", f"The {model} is not in {table}: it cannot convert from {source} "
                                     f"to {goal} firmware.", model=model)
    target = target_load(model, direction, facts=facts)
    if direction is Direction.E2M:
        verdict = _hardware(pid, model, vid, spec, rules["audio_8800_v15"], warnings)
        if verdict is not None:
            return verdict
        warnings.extend(spec.get("warnings_e2m", ()))
        minimum, step = rules["min_enterprise_before_e2m"], spec["enterprise_load"]
    else:
        minimum = spec.get("min_mpp_before_m2e", rules["min_mpp_before_m2e"])
        step = spec["mpp_load"]
    try:  # F-2/F-4: the load to go through first when the current one is older than the minimum
        steps = (step,) if compare_loads(current_load or "", minimum) < 0 else ()
    except ValueError:
        steps, known = (), f'"{current_load}" is not readable' if current_load else "is not known"
        warnings.append(f"The current load {known}: make sure the phone runs {source} {minimum} "
                        "or later before converting.")
    then = (f"it runs {current_load}, older than {minimum}: load {steps[0]}, then {target}" if steps
            else f"load {target}")
    license = facts["licenses"][direction.value].replace("{MAC}", "<MAC>")
    return Verdict("eligible", f"{pid} can convert from {source} to {goal} firmware ({table}): {then} "
                               f"with its {license} license.", tuple(warnings), model, target, steps)


def _hardware(pid: str, model: str, vid: str | None, spec: Mapping[str, Any], audio: Mapping[str, Any],
              warnings: list[str]) -> Verdict | None:
    """F-1: the hardware-version limits and the 8800 audio V15+ rule; None when they pass."""
    low, high = spec.get("vid_min", 0), spec.get("vid_max")
    span = f"V{low:02d} to V{high:02d}" if high else f"V{low:02d} or later"
    try:
        version, given = parse_vid(vid), "is missing"
    except ValueError:
        version, given = None, f'"{vid}" is not readable'
    if low or high:
        if version is None:
            return Verdict("unknown", f"The hardware version (VID) of {pid} {given}: read it on the label "
                                      f"on the back; the {model} converts only from {span}.", model=model)
        edge = f"below V{low:02d}" if version < low else f"above V{high:02d}" if high and version > high else ""
        if edge:
            return Verdict("ineligible", f"{pid} hardware V{version:02d} is {edge} (the {model} converts "
                                         f"only from {span}): replace the phone.", model=model)
    if model not in audio["models"]:
        return None
    floor, from_vid = audio["min_mpp_load"], audio["from_vid"]
    loads = [spec[k] for k in ("mpp_load", "cloud_load") if k in spec]
    too_old = [load for load in loads if compare_loads(load, floor) < 0]
    if version is None:
        if too_old:
            return Verdict("unknown", f"The hardware version (VID) of {pid} {given}: V{from_vid:02d} or later "
                                      f"needs MPP {floor} or later and {too_old[0]} is older.", model=model)
        warnings.append(f"Hardware version {given}: if it is V{from_vid:02d} or later, the phone needs "
                        f"MPP {floor} or later and can never go back below it.")
    elif version >= from_vid:
        if too_old:
            return Verdict("ineligible", f"{pid} hardware V{version:02d} needs MPP {floor} or later but "
                                         f"{too_old[0]} is older: configure a newer MPP load.", model=model)
        warnings.append(f"Hardware V{version:02d}: once converted the phone needs MPP {floor} or later "
                        "and can never go back to an older MPP load.")
    return None


def license_file_name(mac: str, direction: Direction, *, facts: Mapping[str, Any] | None = None) -> str:
    """F-5 / T-5: the node-locked license file: ``<MAC>.lic`` (E2M), ``<MAC>_M2E.lic`` (M2E).

    The MAC in any usual spelling (``00ccfc123456``, ``00:CC:FC:12:34:56``,
    ``00-cc-fc-12-34-56``, ``00cc.fc12.3456``, ``SEP00CCFC123456``) becomes 12
    upper-case hex digits; anything else -> ValueError."""
    facts = facts or default_facts()
    raw = str(mac or "").strip().upper().removeprefix("SEP")
    if not _MAC.match(raw):
        raise ValueError(f'"{mac}" is not a MAC address (12 hexadecimal digits)')
    return facts["licenses"][Direction(direction).value].replace("{MAC}", re.sub(r"[:.-]", "", raw))


def next_79xx_step(current_load: str, wanted: str, *, facts: Mapping[str, Any] | None = None) -> str:
    """F-7: the load to put in ``loadInformation`` for the phone's next reboot.

    A 7940/7960 reporting an SCCP load (``P003...``) older than a stepping stone
    goes to the first stone newer than it (and older than ``wanted`` when that
    is a ``P003`` load too): SCCP 3.x -> P00303010102 -> P00305000500 ->
    P00308000900 -> ``wanted``. Past the stones, on another kind of load (SIP,
    a 79x1 Java load), already on ``wanted``, or going down (T-5): ``wanted``."""
    stones = (facts or default_facts())["stepping_stones_79xx"]
    current, wanted = str(current_load or "").strip(), str(wanted or "").strip()
    if not current or not wanted:
        raise ValueError("next_79xx_step needs the load the phone reports and the wanted load")
    steps = [load for load in (current, wanted)
             if load.upper().startswith(stones["applies_to_prefix"].upper()) and _LOAD_79XX.match(load)]
    if current not in steps or current.upper() == wanted.upper():
        return wanted
    return next((stone for stone in stones["loads"] if compare_loads(stone, current) > 0
                 and not (wanted in steps and compare_loads(stone, wanted) >= 0)), wanted)


def dhcp_option_150(*ips: str) -> tuple[str, str]:
    """F-7: DHCP option 150 (TFTP servers) as hex: (network byte order, byte-reversed).

    ``192.168.1.1`` -> ``("C0A80101", "0101A8C0")``; the second is what the
    source's tftpd32 expects. Several addresses are concatenated in order, each
    reversed on its own. No address, or one that is not IPv4 -> ValueError."""
    if not ips:
        raise ValueError("DHCP option 150 needs at least one TFTP server address")
    packed = [ipaddress.IPv4Address(str(ip).strip()).packed for ip in ips]  # AddressValueError is a ValueError
    return "".join(p.hex().upper() for p in packed), "".join(p[::-1].hex().upper() for p in packed)
