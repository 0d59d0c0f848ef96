"""The phone-model catalogue: protocols, line keys, KEMs, video, parameters.

The facts are data in ``catalog.toml`` beside this module (docs/protocol.md,
"Catalogue facts" and "Config files"); an admin override file is deep-merged
over it, so a wrong guess is corrected in a file, not in code. The rules read
here: C-4 (standard button template names), C-5 (which KEM the buttons go to),
C-6 (product-specific parameters and their defaults), C-10 (video and Jabber
types), M-2 (models the screens support) and S-6 (default load per model).
"""

from __future__ import annotations

import functools
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any, Mapping

from models.rules.datafiles import deep_merge

PROTOCOLS = frozenset({"SIP", "SCCP"})
_PACKAGED = Path(__file__).with_name("catalog.toml")

# "Cisco Unified IP Phone 7965", "CP-8851-K9=", "Cisco Video Phone 8875" -> the bare model.
_PREFIX = re.compile(
    r"^(?:cisco\s+)?(?:unified\s+)?(?:ip\s+)?(?:video\s+|conference\s+)?(?:phone\s+)?(?:cp-)?")
_SUFFIX = re.compile(r"(?:-k9)?=?$")


def _normalize(text: str) -> str:
    name = " ".join(str(text).lower().split())
    return _SUFFIX.sub("", _PREFIX.sub("", name, count=1), count=1)


class UnknownModel(ValueError):
    """A phone or KEM model name the catalogue does not know."""

    def __init__(self, text: str, kind: str = "phone model") -> None:
        super().__init__(f'unknown {kind} "{text}"')
        self.text = text


@dataclass(frozen=True)
class KemModel:
    key: str
    display_name: str
    buttons_per_page: int
    pages: int
    video: bool
    default_load: str = ""  # the KEM's own load, written in addOnModule/loadInformation; "" when unknown

    @property
    def capacity(self) -> int:
        return self.buttons_per_page * self.pages


@dataclass(frozen=True)
class PhoneModel:
    key: str
    display_name: str
    family: str
    protocols: tuple[str, ...]
    line_keys: int
    video: bool
    jabber: bool
    model_number: int | None
    kems: Mapping[str, int] = field(hash=False)
    product_params: Mapping[str, str] = field(hash=False)
    default_loads: Mapping[str, str] = field(hash=False)
    supports_shared_lines: bool = True
    screens_supported: bool = False
    # The KemModel of each key in ``kems``, for kem_capacity; filled by Catalog.
    kem_types: Mapping[str, KemModel] = field(
        default_factory=lambda: MappingProxyType({}), hash=False, compare=False, repr=False)

    def kem_capacity(self, kem_key: str, count: int) -> int:
        """Buttons on ``count`` modules of ``kem_key`` (capped at this model's maximum)."""
        if kem_key not in self.kems:
            return 0
        return self.kem_types[kem_key].capacity * max(0, min(count, self.kems[kem_key]))



def _int(where: str, name: str, value: Any, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"{where}: {name} must be an integer >= {minimum}, got {value!r}")
    return value


def _strings(where: str, name: str, table: Any) -> Mapping[str, str]:
    if not isinstance(table, Mapping) or not all(isinstance(v, str) for v in table.values()):
        raise ValueError(f"{where}: {name} must be a table of strings")
    return MappingProxyType({str(k): v for k, v in table.items()})


def _build_kem(key: str, raw: Mapping[str, Any]) -> KemModel:
    where = f'KEM "{key}"'
    return KemModel(key, str(raw.get("display_name", f"Cisco {key}")),
                    _int(where, "buttons_per_page", raw.get("buttons_per_page"), 1),
                    _int(where, "pages", raw.get("pages"), 1), bool(raw.get("video", False)),
                    str(raw.get("default_load", "")))


def _build_model(key: str, raw: Mapping[str, Any], families: Mapping[str, Any],
                 kems: Mapping[str, KemModel]) -> PhoneModel:
    where = f'model "{key}"'
    family = raw.get("family")
    if family not in families:
        raise ValueError(f"{where}: family {family!r} is not a [families] table")
    spec = deep_merge(families[family], raw)
    for path in spec.get("omit", ()):
        table, _, name = str(path).partition(".")
        if isinstance(spec.get(table), Mapping):
            spec[table] = {k: v for k, v in spec[table].items() if k != name}
    protocols = spec.get("protocols")
    if not isinstance(protocols, list) or not protocols or not set(protocols) <= PROTOCOLS:
        raise ValueError(f"{where}: protocols must be a non-empty subset of {sorted(PROTOCOLS)}, "
                         f"got {protocols!r}")
    taken = spec.get("kems", {})
    if not isinstance(taken, Mapping):
        raise ValueError(f"{where}: kems must be a table of KEM -> maximum modules")
    for kem_key, count in taken.items():
        if kem_key not in kems:
            raise ValueError(f'{where}: kems names unknown KEM "{kem_key}"')
        _int(where, f"kems.{kem_key}", count, 1)
    loads = _strings(where, "default_loads", spec.get("default_loads", {}))
    if not set(loads) <= set(protocols):
        raise ValueError(f"{where}: default_loads names a protocol the model does not run")
    params = _strings(where, "product_params", spec.get("product_params", {}))
    number = spec.get("model_number")
    return PhoneModel(
        key=key,
        display_name=str(spec.get("display_name", f"Cisco {key}")),
        family=family,
        protocols=tuple(protocols),
        line_keys=_int(where, "line_keys", spec.get("line_keys"), 1),
        video=bool(spec.get("video", False)),
        jabber=bool(spec.get("jabber", False)),
        model_number=None if number is None else _int(where, "model_number", number, 0),
        kems=MappingProxyType(dict(taken)),
        product_params=params,
        default_loads=loads,
        supports_shared_lines=bool(spec.get("supports_shared_lines", True)),
        screens_supported=bool(spec.get("screens_supported", False)),
        kem_types=MappingProxyType({k: kems[k] for k in taken}),
    )


def _index(raw: Mapping[str, Any], what: str) -> dict[str, str]:
    """Every spelling (key, display name, aliases), normalized -> key."""
    names: dict[str, str] = {}
    for key, spec in raw.items():
        for name in (key, spec.get("display_name", ""), *spec.get("aliases", ())):
            norm = _normalize(name)
            if norm and names.setdefault(norm, key) != key:
                raise ValueError(f'{what} "{key}": name "{name}" already names "{names[norm]}"')
    return names


class Catalog:
    """Phone and KEM models, looked up by any name an admin or a CSV uses."""

    def __init__(self, data: dict) -> None:
        raw_kems = {str(k): v for k, v in data.get("kems", {}).items()}
        raw_models = {str(k): v for k, v in data.get("models", {}).items()}
        self._kems = {key: _build_kem(key, spec) for key, spec in raw_kems.items()}
        families = data.get("families", {})
        self._models = {key: _build_model(key, spec, families, self._kems)
                        for key, spec in raw_models.items()}
        self._kem_names = _index(raw_kems, "KEM")
        self._model_names = _index(raw_models, "model")
        self._kem_preference = [str(k) for k in data.get("kem_preference", ())]
        for kem_key in self._kem_preference:
            if kem_key not in self._kems:
                raise ValueError(f'kem_preference names unknown KEM "{kem_key}"')
        self._labels = dict(data.get("params", {}).get("labels", {}))

    @classmethod
    def load(cls, override: str | Path | None = None) -> Catalog:
        data = tomllib.loads(_PACKAGED.read_text(encoding="utf-8"))
        if override is not None:
            data = deep_merge(data, tomllib.loads(Path(override).read_text(encoding="utf-8")))
        return cls(data)

    def model(self, text: str) -> PhoneModel:
        key = self._model_names.get(_normalize(text))
        if key is None:
            raise UnknownModel(text)
        return self._models[key]

    def models(self) -> list[PhoneModel]:
        return list(self._models.values())

    def kem(self, text: str) -> KemModel:
        key = self._kem_names.get(_normalize(text))
        if key is None:
            raise UnknownModel(text, "KEM model")
        return self._kems[key]

    def kems(self) -> list[KemModel]:
        return list(self._kems.values())

    def compatible_kem(self, old_kem: str, new_model: str) -> str | None:
        """C-5: the KEM the old KEM's buttons go to on ``new_model``; None if it takes none.

        The same KEM when the new model takes it; else one of the same kind
        (audio or video) in ``kem_preference`` order; else (a video KEM's
        buttons moving to an audio phone) the preferred KEM the new model
        takes: the buttons carry over, only the module changes (Table 5).
        """
        old, phone = self.kem(old_kem), self.model(new_model)
        if old.key in phone.kems:
            return old.key
        rank = {key: i for i, key in enumerate(self._kem_preference)}
        taken = sorted(phone.kems, key=lambda k: rank.get(k, len(rank)))
        same_kind = [k for k in taken if self._kems[k].video == old.video]
        return (same_kind or taken or [None])[0]

    def param_label(self, name: str) -> str:
        """The admin's label for a vendorConfig element; the element name when none is known."""
        return str(self._labels.get(name, name))


def standard_template_name(model: PhoneModel, protocol: str) -> str:
    """C-4: the standard phone button template of a model and protocol, "Standard 8861 SIP"."""
    protocol = protocol.upper()
    if protocol not in model.protocols:
        raise ValueError(f'model "{model.key}" does not run {protocol}')
    return f"Standard {model.key} {protocol}"


@functools.lru_cache(maxsize=1)
def default_catalog() -> Catalog:
    """The packaged catalogue, loaded once."""
    return Catalog.load()
