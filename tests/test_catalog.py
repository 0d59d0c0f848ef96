"""The phone-model catalogue (models/catalog.py, models/catalog.toml)."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from models.rules.catalog import Catalog, KemModel, PhoneModel, UnknownModel, default_catalog, standard_template_name

PACKAGED = Path(__file__).resolve().parent.parent / "models" / "rules" / "catalog.toml"


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return default_catalog()


# key, family, line keys, protocols, CUCM model number, video  (docs/protocol.md "Catalogue facts", "Config files")
SIP = ("SIP",)
BOTH = ("SCCP", "SIP")
MODELS = [
    ("7811", "78xx", 1, SIP, 36213, False),
    ("7821", "78xx", 2, SIP, 621, False),
    ("7841", "78xx", 4, SIP, 622, False),
    ("7861", "78xx", 16, SIP, 623, False),
    ("7832", "78xx", 1, SIP, 36247, False),
    ("8811", "88xx", 5, SIP, 36217, False),
    ("8841", "88xx", 5, SIP, 683, False),
    ("8845", "88xx", 5, SIP, 36224, True),
    ("8851", "88xx", 5, SIP, 684, False),
    ("8851NR", "88xx", 5, SIP, None, False),
    ("8861", "88xx", 5, SIP, 685, False),
    ("8865", "88xx", 5, SIP, 36225, True),
    ("8865NR", "88xx", 5, SIP, None, True),
    ("8875", "88xx", 5, SIP, None, True),
    ("8832", "88xx", 1, SIP, 36258, False),
    ("8832NR", "88xx", 1, SIP, None, False),
    ("7906", "79xx", 1, BOTH, None, False),
    ("7911", "79xx", 1, BOTH, None, False),
    ("7931", "79xx", 24, BOTH, None, False),
    ("7940", "79xx", 2, BOTH, 8, False),
    ("7941", "79xx", 2, BOTH, 115, False),
    ("7942", "79xx", 2, BOTH, 434, False),
    ("7945", "79xx", 2, BOTH, None, False),
    ("7960", "79xx", 6, BOTH, 7, False),
    ("7961", "79xx", 6, BOTH, None, False),
    ("7962", "79xx", 6, BOTH, None, False),
    ("7965", "79xx", 6, BOTH, 436, False),
    ("7970", "79xx", 8, BOTH, None, False),
    ("7971", "79xx", 8, BOTH, None, False),
    ("7975", "79xx", 8, BOTH, None, False),
]
JABBER = ["CSF", "TCT", "TAB", "BOT"]


@pytest.mark.parametrize(("key", "family", "line_keys", "protocols", "number", "video"), MODELS)
def test_every_model_has_its_protocol_facts(catalog, key, family, line_keys, protocols, number, video):
    model = catalog.model(key)
    assert (model.key, model.family, model.line_keys) == (key, family, line_keys)
    assert model.protocols == protocols
    assert model.model_number == number
    assert model.video is video
    assert model.jabber is False
    assert model.supports_shared_lines is True
    assert set(model.default_loads) <= set(model.protocols)


def test_catalogue_holds_exactly_the_listed_models(catalog):
    assert {m.key for m in catalog.models()} == {row[0] for row in MODELS} | set(JABBER)


@pytest.mark.parametrize("key", JABBER)
def test_c10_jabber_types_exist_and_are_flagged(catalog, key):
    model = catalog.model(key)
    assert model.jabber and model.family == "jabber"
    assert not model.screens_supported


def test_c10_only_the_video_endpoints_are_video(catalog):
    assert {m.key for m in catalog.models() if m.video} == {"8845", "8865", "8865NR", "8875"}


@pytest.mark.parametrize(("key", "supported"), [
    ("8811", True), ("8851", True), ("8861", True), ("7821", True), ("7861", True),
    ("8832", True), ("7832", True),
    ("8845", False), ("8865", False), ("8875", False),   # video endpoints
    ("7965", False), ("7940", False), ("CSF", False),
])
def test_m2_screens_supported_models(catalog, key, supported):
    assert catalog.model(key).screens_supported is supported


@pytest.mark.parametrize(("key", "protocol", "load"), [
    ("8851", "SIP", "sip88xx.14-2-1-0101-26"),
    ("8865", "SIP", "sip8845_65.14-2-1-0101-26"),
    ("7841", "SIP", "sip78xx.14-2-1-0101-26"),
    ("7832", "SIP", "sip7832.14-2-1-0101-26"),
    ("8832", "SIP", "sip8832.14-2-1-0101-26"),
    ("7965", "SCCP", "SCCP45.9-4-2SR3-1S"),
    ("7965", "SIP", "SIP45.9-4-2SR3-1S"),
    ("7960", "SCCP", "P00308010200"),
    ("7940", "SIP", "P0S3-8-12-00"),
])
def test_s6_default_load_per_model_and_protocol(catalog, key, protocol, load):
    assert catalog.model(key).default_loads[protocol] == load


def test_s6_a_model_may_drop_a_load_its_family_gives(catalog):
    assert "SIP" not in catalog.model("8875").default_loads


# --- KEMs ---------------------------------------------------------------------------

@pytest.mark.parametrize(("key", "per_page", "pages", "video"), [
    ("7914", 14, 1, False), ("7915", 12, 2, False), ("7916", 12, 2, False),
    ("BEKEM", 18, 2, False), ("CP-8800-Audio", 14, 2, False), ("CP-8800-Video", 14, 2, True),
])
def test_kem_models(catalog, key, per_page, pages, video):
    kem = catalog.kem(key)
    assert (kem.buttons_per_page, kem.pages, kem.video) == (per_page, pages, video)
    assert kem.capacity == per_page * pages


KEM_LIMITS = {
    "7960": {"7914": 2}, "7961": {"7914": 2}, "7970": {"7914": 2}, "7971": {"7914": 2},
    "7962": {"7914": 2, "7915": 2, "7916": 2},
    "7965": {"7914": 2, "7915": 2, "7916": 2},
    "7975": {"7914": 2, "7915": 2, "7916": 2},
    "8851": {"BEKEM": 2, "CP-8800-Audio": 2},
    "8861": {"BEKEM": 3, "CP-8800-Audio": 3},
    "8865": {"BEKEM": 3, "CP-8800-Video": 3},
    "8851NR": {"BEKEM": 2, "CP-8800-Audio": 2},     # as 8851 (catalogue: unconfirmed)
    "8865NR": {"BEKEM": 3, "CP-8800-Video": 3},     # as 8865 (catalogue: unconfirmed)
}


@pytest.mark.parametrize(("phone", "limits"), sorted(KEM_LIMITS.items()))
def test_c5_which_phone_takes_which_kem(catalog, phone, limits):
    assert dict(catalog.model(phone).kems) == limits


@pytest.mark.parametrize("phone", ["7811", "7821", "7841", "7861", "7832", "8811", "8841", "8845",
                                   "8875", "8832", "7906", "7911", "7931", "7940", "7941", "7942", "7945"])
def test_c5_phones_without_kem(catalog, phone):
    assert dict(catalog.model(phone).kems) == {}


def test_c5_kem_capacity_is_capped_by_the_models_maximum(catalog):
    m8861 = catalog.model("8861")
    assert m8861.kem_capacity("BEKEM", 1) == 36
    assert m8861.kem_capacity("BEKEM", 5) == 108
    assert m8861.kem_capacity("CP-8800-Audio", 2) == 56
    assert m8861.kem_capacity("CP-8800-Video", 1) == 0
    assert catalog.model("7965").kem_capacity("7914", 2) == 28
    assert catalog.model("7841").kem_capacity("BEKEM", 1) == 0


ALL_KEMS = ["7914", "7915", "7916", "BEKEM", "CP-8800-Audio", "CP-8800-Video"]


def _expected_kem(old: str, phone: str) -> str | None:
    """C-5, spelled out independently of the code: same KEM, else same kind, BEKEM first."""
    takes = KEM_LIMITS.get(phone, {})
    if not takes:
        return None
    if old in takes:
        return old
    order = ["BEKEM", "CP-8800-Audio", "CP-8800-Video", "7916", "7915", "7914"]
    same_kind = [k for k in order if k in takes and (k == "CP-8800-Video") == (old == "CP-8800-Video")]
    return (same_kind or [k for k in order if k in takes])[0]


@pytest.mark.parametrize("phone", [row[0] for row in MODELS])
@pytest.mark.parametrize("old", ALL_KEMS)
def test_c5_compatible_kem_for_every_pair(catalog, old, phone):
    assert catalog.compatible_kem(old, phone) == _expected_kem(old, phone)


@pytest.mark.parametrize(("old", "phone", "expected"), [
    ("7914", "8861", "BEKEM"),               # 79xx KEM on an 88xx: the compatible one
    ("7915", "8851", "BEKEM"),
    ("BEKEM", "8851", "BEKEM"),              # the same KEM fits
    ("CP-8800-Audio", "8861", "CP-8800-Audio"),
    ("CP-8800-Audio", "8851", "CP-8800-Audio"),
    ("CP-8800-Video", "8865", "CP-8800-Video"),
    ("7914", "8865", "BEKEM"),               # audio KEM on a video phone stays audio
    ("CP-8800-Audio", "8865", "BEKEM"),
    ("7916", "7965", "7916"),
    ("7916", "7961", "7914"),
    ("BEKEM", "7975", "7916"),
    ("CP-8800-Video", "8861", "BEKEM"),      # video KEM only on a video phone
])
def test_c5_kem_scenarios(catalog, old, phone, expected):
    assert catalog.compatible_kem(old, phone) == expected


@pytest.mark.parametrize("old", ALL_KEMS)
@pytest.mark.parametrize("phone", ["7841", "8845", "7811", "8832", "7940"])
def test_c5_model_without_kem_loses_them(catalog, old, phone):
    assert catalog.compatible_kem(old, phone) is None


def test_c5_compatible_kem_accepts_any_spelling(catalog):
    assert catalog.compatible_kem("CP-BEKEM=", "Cisco IP Phone 8851") == "BEKEM"
    assert catalog.compatible_kem("7914 14-Button Line Expansion Module", "cp-8861-k9=") == "BEKEM"


# --- names --------------------------------------------------------------------------

@pytest.mark.parametrize(("text", "key"), [
    ("8851", "8851"), ("CP-8851", "8851"), ("cp-8851-k9=", "8851"), ("CP-8851-K9", "8851"),
    ("Cisco 8851", "8851"), ("cisco ip phone 8851", "8851"), ("  Cisco   IP Phone 8851 ", "8851"),
    ("Cisco Unified IP Phone 7965", "7965"), ("CP-7965G", "7965"), ("7941G-GE", "7941"),
    ("CP-8851NR-K9=", "8851NR"), ("8865nr", "8865NR"), ("Cisco Video Phone 8875", "8875"),
    ("Cisco IP Conference Phone 8832", "8832"), ("Cisco 7832", "7832"),
    ("csf", "CSF"), ("Cisco Unified Client Services Framework", "CSF"), ("Cisco Dual Mode for iPhone", "TCT"),
])
def test_model_name_variants(catalog, text, key):
    assert catalog.model(text).key == key


@pytest.mark.parametrize(("text", "key"), [
    ("BEKEM", "BEKEM"), ("cp-bekem=", "BEKEM"), ("CP-8800-A-KEM=", "CP-8800-Audio"),
    ("cp-8800-video", "CP-8800-Video"), ("7915 24-Button Line Expansion Module", "7915"), ("Cisco 7914", "7914"),
])
def test_kem_name_variants(catalog, text, key):
    assert catalog.kem(text).key == key


@pytest.mark.parametrize("text", ["9999", "", "Cisco", "CP-", "885", "88511", "SEP001122334455"])
def test_unknown_model(catalog, text):
    with pytest.raises(UnknownModel, match=f'unknown phone model "{text}"'):
        catalog.model(text)


def test_unknown_kem_and_unknown_model_are_value_errors(catalog):
    with pytest.raises(ValueError, match='unknown KEM model "7925"'):
        catalog.kem("7925")
    with pytest.raises(UnknownModel):
        catalog.compatible_kem("BEKEM", "8999")


# --- C-4, C-6 -------------------------------------------------------------------------

@pytest.mark.parametrize(("key", "protocol", "name"), [
    ("8861", "SIP", "Standard 8861 SIP"),
    ("7965", "SCCP", "Standard 7965 SCCP"),
    ("7965", "sip", "Standard 7965 SIP"),
    ("7841", "SIP", "Standard 7841 SIP"),
])
def test_c4_standard_template_name(catalog, key, protocol, name):
    assert standard_template_name(catalog.model(key), protocol) == name


def test_c4_standard_template_needs_a_protocol_the_model_runs(catalog):
    with pytest.raises(ValueError, match='"8861".*SCCP'):
        standard_template_name(catalog.model("8861"), "SCCP")


@pytest.mark.parametrize("key", ["8811", "8851", "8861", "8865", "7821", "7841", "7832", "8832"])
def test_c6_sip_models_define_line_mode_and_all_calls_on_primary(catalog, key):
    params = catalog.model(key).product_params
    assert params["lineMode"] == "0"              # Session Line Mode
    assert params["allCallsOnPrimary"] == "1"     # enabled
    assert {"webAccess", "sshAccess", "garp", "displayOnTime", "displayIdleTimeout"} <= set(params)


@pytest.mark.parametrize("key", ["7940", "7960", "7965", "7975", "7911"])
def test_c6_79xx_models_define_their_own_parameters(catalog, key):
    params = catalog.model(key).product_params
    assert {"webAccess", "settingsAccess", "pcPort", "spanToPCPort", "garp", "loggingDisplay",
            "videoCapability"} <= set(params)
    assert "lineMode" not in params and "allCallsOnPrimary" not in params


def test_c6_conference_phones_drop_the_pc_port(catalog):
    for key in ("8832", "7832"):
        assert "pcPort" not in catalog.model(key).product_params
    assert "pcPort" in catalog.model("8851").product_params


def test_c6_parameter_labels(catalog):
    assert catalog.param_label("lineMode") == "Line Mode"
    assert catalog.param_label("allCallsOnPrimary") == "Show All Calls on Primary Line"
    assert catalog.param_label("noSuchElement") == "noSuchElement"


def test_models_are_read_only(catalog):
    model = catalog.model("8851")
    with pytest.raises(TypeError):
        model.product_params["lineMode"] = "1"  # type: ignore[index]
    with pytest.raises(TypeError):
        model.kems["BEKEM"] = 9  # type: ignore[index]
    with pytest.raises(AttributeError):
        model.line_keys = 10  # type: ignore[misc]
    assert isinstance(model, PhoneModel) and isinstance(catalog.kem("BEKEM"), KemModel)
    assert hash(model) == hash(catalog.model("CP-8851"))


# --- loading, overrides, validation -------------------------------------------------

def test_default_catalog_is_loaded_once():
    assert default_catalog() is default_catalog()


def test_override_file_corrects_a_model(tmp_path):
    override = tmp_path / "override.toml"
    override.write_text(
        '[models.8851]\nline_keys = 10\n\n'
        '[models.8851.product_params]\nringOnShared = "1"\n\n'
        '[params.labels]\nringOnShared = "Ring on Shared Line"\n'
    )
    catalog = Catalog.load(override)
    m8851 = catalog.model("8851")
    assert m8851.line_keys == 10
    assert m8851.product_params["ringOnShared"] == "1"
    assert m8851.product_params["lineMode"] == "0"            # the rest of the model survives
    assert dict(m8851.kems) == {"BEKEM": 2, "CP-8800-Audio": 2}
    assert catalog.param_label("ringOnShared") == "Ring on Shared Line"
    assert catalog.model("8861").line_keys == 5
    assert default_catalog().model("8851").line_keys == 5     # the packaged catalogue is untouched


def test_override_can_add_a_model(tmp_path):
    override = tmp_path / "override.toml"
    override.write_text('[models.9999]\nfamily = "88xx"\ndisplay_name = "Cisco 9999"\nkems = { BEKEM = 1 }\n')
    model = Catalog.load(str(override)).model("CP-9999")
    assert (model.family, model.line_keys, model.protocols) == ("88xx", 5, ("SIP",))


def test_bad_override_unknown_kem_names_the_key(tmp_path):
    override = tmp_path / "override.toml"
    override.write_text('[models.8851.kems]\nKEM-9000 = 1\n')
    with pytest.raises(ValueError, match=r'model "8851".*kems.*"KEM-9000"'):
        Catalog.load(override)


def _data() -> dict:
    return tomllib.loads(PACKAGED.read_text(encoding="utf-8"))


@pytest.mark.parametrize(("field", "value", "message"), [
    ("protocols", ["SIP", "H323"], r'model "8861": protocols'),
    ("protocols", [], r'model "8861": protocols'),
    ("line_keys", 0, r'model "8861": line_keys'),
    ("line_keys", "5", r'model "8861": line_keys'),
    ("family", "99xx", r'model "8861": family'),
    ("kems", {"BEKEM": 0}, r'model "8861": kems.BEKEM'),
    ("product_params", {"lineMode": 0}, r'model "8861": product_params'),
    ("default_loads", {"SCCP": "x"}, r'model "8861": default_loads'),
])
def test_validation_names_the_model_and_field(field, value, message):
    data = _data()
    data["models"]["8861"][field] = value
    with pytest.raises(ValueError, match=message):
        Catalog(data)


def test_validation_of_kems_and_names():
    data = _data()
    data["kems"]["BEKEM"]["pages"] = 0
    with pytest.raises(ValueError, match=r'KEM "BEKEM": pages'):
        Catalog(data)
    data = _data()
    data["models"]["8861"]["aliases"] = ["CP-8851"]
    with pytest.raises(ValueError, match=r'model "8861": name "CP-8851" already names "8851"'):
        Catalog(data)
    data = _data()
    data["kem_preference"].append("7925")
    with pytest.raises(ValueError, match='kem_preference.*"7925"'):
        Catalog(data)
