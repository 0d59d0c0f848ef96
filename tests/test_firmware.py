"""The firmware conversion planner (models/rules/firmware.py, models/rules/firmware.toml): F-1..F-7, T-5.

Every source table row is checked twice: the hand-written rows below are copied
from docs/sources.md ("Firmware migration overview", Tables 1, 2, 6, 7) and
"Cloud-upgrade loads", independently of the TOML, and each TOML row must
match them, so a typo on either side fails a test.
"""

from __future__ import annotations

import dataclasses
import tomllib
from pathlib import Path

import pytest

from models.rules.firmware import (
    Direction,
    Verdict,
    compare_loads,
    dhcp_option_150,
    eligibility,
    license_file_name,
    load_facts,
    next_79xx_step,
    parse_pid,
    parse_vid,
    target_load,
)

E2M, M2E = Direction.E2M, Direction.M2E
TOML = tomllib.loads((Path(__file__).resolve().parent.parent / "models" / "rules" / "firmware.toml").read_text("utf-8"))
TOML_MODELS = TOML["models"]


def expand(models: str) -> list[str]:
    """ "7811/21/41/61" -> ["7811", "7821", "7841", "7861"], as the source tables write them."""
    first, *rest = models.split("/")
    return [first] + [first[: len(first) - len(r)] + r for r in rest]


# --- source rows, hand-copied ------------------------------------------------------

# Table 1: PID, model, VID limits (inclusive)
TABLE_1 = [
    ("CP-7811-K9=", "7811", None, None),
    ("CP-7821-K9=", "7821", 3, 24),
    ("CP-7841-K9=", "7841", 4, None),
    ("CP-7861-K9=", "7861", 3, None),
    ("CP-7832-K9=", "7832", None, None),
    ("CP-8811-K9=", "8811", None, None),
    ("CP-8841-K9=", "8841", None, None),
    ("CP-8851-K9=", "8851", None, None),
    ("CP-8861-K9=", "8861", None, None),
    ("CP-8832-K9=", "8832", None, None),
    ("CP-8845-K9=", "8845", None, None),
    ("CP-8865-K9=", "8865", None, None),
]
# Table 2: PID, model
TABLE_2 = [
    ("CP-7811-3PCC-K9=", "7811"),
    ("CP-7821-3PCC-K9=", "7821"),
    ("CP-7841-3PCC-K9=", "7841"),
    ("CP-7861-3PCC-K9=", "7861"),
    ("CP-7832-3PCC-K9=", "7832"),
    ("CP-8811-3PCC-K9=", "8811"),
    ("CP-8841-3PCC-K9=", "8841"),
    ("CP-8851-3PCC-K9=", "8851"),
    ("CP-8861-3PCC-K9=", "8861"),
    ("CP-8832-3PCC-K9=", "8832"),
    ("CP-8845-3PCC-K9=", "8845"),
    ("CP-8865-3PCC-K9=", "8865"),
]
# Table 6: Enterprise to MPP, model, MPP firmware
TABLE_6 = [
    ("7811/21/41/61", "sip78xx.12-0-3MPP0001-87.loads"),
    ("7832", "sip7832.12-0-3MPP0001-87.loads"),
    ("8811/41/51/61", "sip88xx.12-0-3MPP0001-87.loads"),
    ("8832", "sip8832.12-0-3MPP0101-92.loads"),
    ("8845/65", "sip8845_65.12-0-3MPP0001-87.loads"),
]
# Table 7: MPP to Enterprise, model, Enterprise firmware (14.2.1SR1)
TABLE_7 = [
    ("7811/21/41/61", "sip78xx.14-2-1-0101-26.loads"),
    ("7832", "sip7832.14-2-1-0101-26.loads"),
    ("8811/41/51/61", "sip88xx.14-2-1-0101-26.loads"),
    ("8832", "sip8832.14-2-1-0101-26.loads"),
    ("8845/65", "sip8845_65.14-2-1-0101-26.loads"),
]
# README digest, bulk update group 2: model -> cloud-upgrade load
CLOUD = [
    ("7832", "sip7832.11-3-6MPP0001-272"),
    ("7811/21/41/61", "sip78xx.11-3-6MPP0001-272"),  # "other 78xx"
    ("8832", "sip8832.11-3-6MPP0001-272"),
    ("8845/65", "sip8845_65.11-3-6MPP0001-272"),
    ("8811/41/51/61", "sip88xx.11-3-6MPP0001-272"),  # "other 88xx"
]
NEVER = [("CP-8821-K9=", "8821"), ("CP-8851NR-K9=", "8851NR"), ("CP-8865NR-K9=", "8865NR"), ("CP-8831-K9=", "8831")]
AUDIO_8800 = ["8811", "8841", "8851", "8861", "8832"]  # Table 1's "8800 audio series" column
# Table 1 note: the 8832NR converts too; it takes the 8832's loads (decided in firmware.toml).
SAME_LOADS_AS = {"8832NR": "8832"}


def rows(table: list[tuple[str, str]]) -> dict[str, str]:
    return {model: load.removesuffix(".loads") for models, load in table for model in expand(models)}


def loads_for(table: list[tuple[str, str]], model: str) -> str:
    return rows(table)[SAME_LOADS_AS.get(model, model)]


TOML_TABLE_1 = [(s["e2m_pid"], m, s.get("vid_min"), s.get("vid_max")) for m, s in TOML_MODELS.items() if "e2m_pid" in s]
TOML_TABLE_2 = [(s["m2e_pid"], m) for m, s in TOML_MODELS.items() if "m2e_pid" in s]
TOML_MPP = [(m, s["mpp_load"]) for m, s in TOML_MODELS.items()]
TOML_ENTERPRISE = [(m, s["enterprise_load"]) for m, s in TOML_MODELS.items()]
TOML_CLOUD = [(m, s["cloud_load"]) for m, s in TOML_MODELS.items()]


# --- F-1 / F-2: the tables ---------------------------------------------------------

def test_f1_table1_toml_holds_exactly_the_source_rows():
    assert sorted(TOML_TABLE_1) == sorted(TABLE_1)


@pytest.mark.parametrize("row", TOML_TABLE_1, ids=lambda r: r[0])
def test_f1_table1_toml_row_is_a_source_row(row):
    assert row in TABLE_1


@pytest.mark.parametrize("pid, model, vid_min, vid_max", TABLE_1)
def test_f1_table1_source_row_is_eligible_with_table6_load(pid, model, vid_min, vid_max):
    verdict = eligibility(pid, f"V{vid_min or 10:02d}", "14.2.1SR1", E2M)
    assert verdict.status == "eligible", verdict.reason
    assert verdict.model == model
    assert verdict.target_load == rows(TABLE_6)[model]
    assert verdict.steps == ()


def test_f2_table2_toml_holds_exactly_the_source_rows():
    assert sorted(TOML_TABLE_2) == sorted(TABLE_2)


@pytest.mark.parametrize("row", TOML_TABLE_2, ids=lambda r: r[0])
def test_f2_table2_toml_row_is_a_source_row(row):
    assert row in TABLE_2


@pytest.mark.parametrize("pid, model", TABLE_2)
def test_f2_table2_source_row_is_eligible_with_table7_load(pid, model):
    verdict = eligibility(pid, None, "12.0.3SR1", M2E)
    assert verdict.status == "eligible", verdict.reason
    assert verdict.model == model
    assert verdict.target_load == rows(TABLE_7)[model]
    assert verdict.steps == ()
    assert "_M2E.lic" in verdict.reason


# --- F-4: Tables 6, 7 and the digest's cloud loads ------------------------------------

@pytest.mark.parametrize("model, load", list(rows(TABLE_6).items()))
def test_f4_table6_source_row_is_the_e2m_target(model, load):
    assert target_load(model, E2M) == load


@pytest.mark.parametrize("model, load", TOML_MPP)
def test_f4_table6_toml_row_matches_source(model, load):
    assert load == loads_for(TABLE_6, model)


@pytest.mark.parametrize("model, load", list(rows(TABLE_7).items()))
def test_f4_table7_source_row_is_the_m2e_target(model, load):
    assert target_load(model, M2E) == load


@pytest.mark.parametrize("model, load", TOML_ENTERPRISE)
def test_f4_table7_toml_row_matches_source(model, load):
    assert load == loads_for(TABLE_7, model)


@pytest.mark.parametrize("model, load", list(rows(CLOUD).items()))
def test_f4_cloud_digest_row_is_the_cloud_target(model, load):
    assert target_load(model, E2M, cloud=True) == load


@pytest.mark.parametrize("model, load", TOML_CLOUD)
def test_f4_cloud_toml_row_matches_digest(model, load):
    assert load == loads_for(CLOUD, model)


def test_f4_target_load_takes_a_pid_and_any_case():
    assert target_load("CP-8845-K9=", E2M) == "sip8845_65.12-0-3MPP0001-87"
    assert target_load("cp-8865-3pcc-k9=", "mpp_to_enterprise") == "sip8845_65.14-2-1-0101-26"


@pytest.mark.parametrize("model, direction, cloud", [
    ("8841", M2E, True),  # the digest names cloud loads for Enterprise -> MPP only
    ("8821", E2M, False),  # never eligible
    ("8832NR", M2E, False),  # not in Table 2
    ("6821", E2M, False),
    ("not a phone", E2M, False),
])
def test_f4_target_load_none_when_no_such_conversion(model, direction, cloud):
    assert target_load(model, direction, cloud) is None


# --- F-1: hardware versions ------------------------------------------------------------

@pytest.mark.parametrize("pid, vid, status", [
    ("CP-7821-K9=", "V02", "ineligible"),
    ("CP-7821-K9=", "V03", "eligible"),
    ("CP-7821-K9=", "V24", "eligible"),
    ("CP-7821-K9=", "V25", "ineligible"),
    ("CP-7841-K9=", "V03", "ineligible"),
    ("CP-7841-K9=", "V04", "eligible"),
    ("CP-7841-K9=", "V99", "eligible"),
    ("CP-7861-K9=", "V02", "ineligible"),
    ("CP-7861-K9=", "V03", "eligible"),
    ("CP-7861-K9=", "V40", "eligible"),
])
def test_f1_hardware_version_edges(pid, vid, status):
    verdict = eligibility(pid, vid, "14.2.1SR1", E2M)
    assert verdict.status == status, verdict.reason


def test_f1_hardware_version_reason_says_what_to_do():
    low = eligibility("CP-7821-K9=", "V02", None, E2M)
    assert low.reason.startswith("CP-7821-K9= hardware V02 is below V03")
    assert "replace the phone" in low.reason
    assert "above V24" in eligibility("CP-7821-K9=", "V25", None, E2M).reason
    assert low.target_load is None


@pytest.mark.parametrize("pid", ["CP-7821-K9=", "CP-7841-K9=", "CP-7861-K9="])
@pytest.mark.parametrize("vid, says", [(None, "is missing"), ("", "is missing"), ("V0x", '"V0x" is not readable')])
def test_f1_missing_vid_where_it_matters_is_unknown(pid, vid, says):
    verdict = eligibility(pid, vid, "14.2.1SR1", E2M)
    assert verdict.status == "unknown"
    assert f"hardware version (VID) of {pid} {says}" in verdict.reason


@pytest.mark.parametrize("pid, vid, direction", [
    ("CP-7811-K9=", None, E2M),
    ("CP-7811-K9=", "garbage", E2M),
    ("CP-8845-K9=", "V30", E2M),  # video 8800: the V15 rule is for the audio series
    ("CP-7821-3PCC-K9=", "V01", M2E),  # Table 2 has no VID limits
    ("CP-7821-3PCC-K9=", None, M2E),
])
def test_f1_vid_that_does_not_matter_is_ignored(pid, vid, direction):
    verdict = eligibility(pid, vid, "14.2.1SR1" if direction is E2M else "12.0.3SR1", direction)
    assert verdict.status == "eligible"
    assert verdict.warnings == ()


@pytest.mark.parametrize("model", AUDIO_8800)
def test_f1_8800_audio_v14_has_no_mpp_floor(model):
    verdict = eligibility(f"CP-{model}-K9=", "V14", "14.2.1SR1", E2M)
    assert verdict.status == "eligible"
    assert not any("11.3.3" in w for w in verdict.warnings)


@pytest.mark.parametrize("model", AUDIO_8800)
def test_f1_8800_audio_v15_needs_mpp_11_3_3_and_no_downgrade(model):
    verdict = eligibility(f"CP-{model}-K9=", "V15", "14.2.1SR1", E2M)
    assert verdict.status == "eligible"  # the Table 6 and cloud loads are 11.3.3 or later
    assert any("11.3.3" in w and "never go back" in w for w in verdict.warnings)


def test_f1_8800_audio_missing_vid_warns_about_the_floor():
    verdict = eligibility("CP-8841-K9=", None, "14.2.1SR1", E2M)
    assert verdict.status == "eligible"
    assert any("V15 or later" in w and "11.3.3" in w for w in verdict.warnings)


def test_f1_8832nr_is_not_in_the_audio_column():
    verdict = eligibility("CP-8832-NR-K9=", "V15", "14.2.1SR1", E2M)
    assert not any("11.3.3" in w for w in verdict.warnings)


@pytest.fixture
def old_mpp_target(tmp_path):
    """An admin correction that points the 8841 at an MPP load older than 11.3.3."""
    override = tmp_path / "firmware.toml"
    override.write_text('[models.8841]\nmpp_load = "sip88xx.11-2-3MPP0001-609"\n', encoding="utf-8")
    return load_facts(override)


@pytest.mark.parametrize("vid, status", [("V14", "eligible"), ("V15", "ineligible"), (None, "unknown")])
def test_f1_8800_audio_v15_refuses_an_mpp_target_below_11_3_3(old_mpp_target, vid, status):
    verdict = eligibility("CP-8841-K9=", vid, "14.2.1SR1", E2M, facts=old_mpp_target)
    assert verdict.status == status, verdict.reason
    if status != "eligible":
        assert "11.3.3" in verdict.reason and "sip88xx.11-2-3MPP0001-609" in verdict.reason


# --- F-1: never eligible, 8832 warnings, unknown PIDs ---------------------------------

@pytest.mark.parametrize("pid, model", NEVER)
def test_f1_never_eligible_models(pid, model):
    verdict = eligibility(pid, "V10", "14.2.1SR1", E2M)
    assert verdict.status == "ineligible"
    assert verdict.reason == f"The {model} can never convert to MPP firmware (F-1): replace it with an MPP phone."
    assert verdict.model == model


def test_f1_never_eligible_model_is_not_in_table2_either():
    assert eligibility("CP-8821-3PCC-K9=", None, None, M2E).status == "ineligible"


@pytest.mark.parametrize("pid", ["CP-8832-K9=", "CP-8832-NR-K9=", "CP-8832NR-K9="])
def test_f1_8832_converts_with_wifi_and_daisy_chain_warning(pid):
    verdict = eligibility(pid, None, "14.2.1SR1", E2M)
    assert verdict.status == "eligible"
    assert verdict.target_load == "sip8832.12-0-3MPP0101-92"
    assert any("Wi-Fi" in w and "daisy chain" in w for w in verdict.warnings)


def test_f2_8832_back_to_enterprise_has_no_wifi_warning():
    verdict = eligibility("CP-8832-3PCC-K9=", None, "12.0.3SR1", M2E)
    assert not any("Wi-Fi" in w for w in verdict.warnings)


@pytest.mark.parametrize("pid, direction, reason", [
    ("CP-6821-3PCC-K9=", M2E, "The 6821 is not in Table 2"),
    ("CP-8875-K9=", E2M, "The 8875 is not in Table 1"),
    ("CP-8832-NR-3PCC-K9=", M2E, "The 8832NR is not in Table 2"),
    ("SEP00CCFC123456", E2M, "is not a Cisco IP phone PID"),
    ("", E2M, "is not a Cisco IP phone PID"),
])
def test_f1_f2_unknown_pid_is_ineligible_with_reason(pid, direction, reason):
    verdict = eligibility(pid, None, None, direction)
    assert verdict.status == "ineligible"
    assert reason in verdict.reason


# --- F-3: the PID tells the firmware ----------------------------------------------------

@pytest.mark.parametrize("pid, expected", [
    ("CP-8851-3PCC-K9=", ("8851", True)),
    ("CP-8851-3PC-K9=", ("8851", True)),
    ("CP-8851-3PW-K9=", ("8851", True)),
    ("cp-7832-3pw-na-k9=", ("7832", True)),
    ("CP-8851-K9=", ("8851", False)),
    ("CP-8851-K9", ("8851", False)),
    (" 8851 ", ("8851", False)),
    ("CP-8851NR-K9=", ("8851NR", False)),
    ("CP-8832-NR-K9=", ("8832NR", False)),
    ("CP-8832-NR-3PCC-K9=", ("8832NR", True)),
])
def test_f3_parse_pid(pid, expected):
    assert parse_pid(pid) == expected


@pytest.mark.parametrize("pid", ["", "CP-", "CP-88-K9=", "hello", "CP-8851 K9", "CP-3PCC-8851-K9="])
def test_f3_parse_pid_refuses_garbage(pid):
    with pytest.raises(ValueError):
        parse_pid(pid)


@pytest.mark.parametrize("pid", ["CP-8841-3PCC-K9=", "CP-8841-3PC-K9=", "CP-8841-3PW-K9="])
def test_f3_mpp_pid_asked_e2m_is_already_mpp(pid):
    verdict = eligibility(pid, "V10", "12.0.3", E2M)
    assert verdict.status == "ineligible"
    assert "already MPP" in verdict.reason


def test_f3_enterprise_pid_asked_m2e_is_already_enterprise():
    verdict = eligibility("CP-8841-K9=", None, "14.2.1SR1", M2E)
    assert verdict.status == "ineligible"
    assert "already Enterprise" in verdict.reason


def test_f3_load_naming_the_target_firmware_means_already_converted():
    verdict = eligibility("CP-8841-K9=", "V10", "sip88xx.12-0-3MPP0001-87", E2M)
    assert verdict.status == "ineligible" and "already MPP" in verdict.reason


@pytest.mark.parametrize("pid, load, direction", [
    ("CP-8841-K9=", "sip88xx.12-0-3MPP0001-87", M2E),
    ("CP-8841-3PCC-K9=", "sip88xx.14-2-1-0101-26", E2M),
])
def test_f3_phone_converted_earlier_may_go_back(pid, load, direction):
    verdict = eligibility(pid, "V10", load, direction)
    assert verdict.status == "eligible"
    assert any("converted" in w for w in verdict.warnings)


# --- F-4 / F-2: minimum loads and steps -------------------------------------------------

@pytest.mark.parametrize("current, steps", [
    ("12.8.1", ("sip88xx.14-2-1-0101-26",)),
    ("14.2.1", ("sip88xx.14-2-1-0101-26",)),
    ("sip88xx.14-2-1-0001-10", ("sip88xx.14-2-1-0101-26",)),
    ("14.2(1)SR1", ()),
    ("sip88xx.14-2-1-0101-26", ()),
    ("sip88xx.14-2-1SR1-1", ()),
    ("14.3.1", ()),
])
def test_f4_e2m_needs_14_2_1sr1_first(current, steps):
    verdict = eligibility("CP-8841-K9=", "V10", current, E2M)
    assert verdict.status == "eligible"
    assert verdict.steps == steps
    if steps:
        assert "older than 14.2.1SR1" in verdict.reason


@pytest.mark.parametrize("current", [None, "", "not a load"])
def test_f4_e2m_unknown_current_load_warns(current):
    verdict = eligibility("CP-8841-K9=", "V10", current, E2M)
    assert verdict.status == "eligible" and verdict.steps == ()
    assert any("14.2.1SR1" in w for w in verdict.warnings)


@pytest.mark.parametrize("pid, current, steps", [
    ("CP-8832-3PCC-K9=", "12.0.3", ("sip8832.12-0-3MPP0101-92",)),
    ("CP-8832-3PCC-K9=", "sip8832.11-3-6MPP0001-272", ("sip8832.12-0-3MPP0101-92",)),
    ("CP-8832-3PCC-K9=", "12.0.3SR1", ()),
    ("CP-8832-3PCC-K9=", "sip8832.12-0-3MPP0101-92", ()),
    ("CP-8841-3PCC-K9=", "12.0.3", ()),
    ("CP-8841-3PCC-K9=", "11.3.7", ("sip88xx.12-0-3MPP0001-87",)),
])
def test_f2_m2e_needs_mpp_12_0_3_and_8832_needs_12_0_3sr1_first(pid, current, steps):
    verdict = eligibility(pid, None, current, M2E)
    assert verdict.status == "eligible"
    assert verdict.steps == steps


def test_f2_8832_unknown_current_load_warns_about_12_0_3sr1():
    verdict = eligibility("CP-8832-3PCC-K9=", None, None, M2E)
    assert any("12.0.3SR1" in w for w in verdict.warnings)


@pytest.mark.parametrize("a, b, expected", [
    ("sip88xx.14-2-1-0101-26", "14.2.1SR1", 0),
    ("sip88xx.14-2-1-0101-26", "14.2(1)SR1", 0),
    ("sip88xx.14-2-1SR1-1", "sip78xx.14-2-1-0101-99", 0),
    ("sip88xx.14-2-1-0001-10", "14.2.1SR1", -1),
    ("14.2.1", "14.2(1)", 0),
    ("14.3.1", "14.2.1SR3", 1),
    ("14.1", "14.1.0", 0),
    ("sip8832.12-0-3MPP0101-92", "12.0.3SR1", 0),
    ("sip88xx.12-0-3MPP0001-87", "12.0.3SR1", -1),
    ("sip88xx.12-0-3MPP0001-87.loads", "12.0.3", 0),
    ("sip88xx.11-3-6MPP0001-272", "11.3.3", 1),
    ("11.3.3", "11.3.3", 0),
    ("P00308000900", "P00305000500", 1),
])
def test_f4_compare_loads(a, b, expected):
    assert compare_loads(a, b) == expected
    assert compare_loads(b, a) == -expected


@pytest.mark.parametrize("load", ["", "fourteen", "14", "sip88xx.", "14.2.1XY"])
def test_f4_compare_loads_refuses_garbage(load):
    with pytest.raises(ValueError):
        compare_loads(load, "14.2.1")


@pytest.mark.parametrize("vid, expected", [
    ("V03", 3), ("v3", 3), ("03", 3), ("3", 3), (" V24 ", 24), (None, None), ("", None), ("  ", None)])
def test_f1_parse_vid(vid, expected):
    assert parse_vid(vid) == expected


@pytest.mark.parametrize("vid", ["garbage", "V", "V-1", "V03a", "VV03"])
def test_f1_parse_vid_refuses_garbage(vid):
    with pytest.raises(ValueError):
        parse_vid(vid)


# --- F-5 / T-5: licenses ---------------------------------------------------------------------

@pytest.mark.parametrize("mac", [
    "00CCFC123456", "00ccfc123456", "00:cc:fc:12:34:56", "00-CC-FC-12-34-56", "00cc.fc12.3456", " sep00ccfc123456 "])
def test_f5_license_file_names(mac):
    assert license_file_name(mac, E2M) == "00CCFC123456.lic"
    assert license_file_name(mac, M2E) == "00CCFC123456_M2E.lic"


@pytest.mark.parametrize("mac", [
    "", "00CCFC12345", "00CCFC1234567", "00:cc:fc:12:34:5g", "00:cc-fc:12:34:56", "00ccfc-123456"])
def test_f5_license_file_name_refuses_a_bad_mac(mac):
    with pytest.raises(ValueError):
        license_file_name(mac, E2M)


def test_f5_license_is_node_locked_to_its_mac():
    assert license_file_name("00CCFC123456", E2M) != license_file_name("00CCFC123457", E2M)


# --- F-7: 79xx stepping stones and DHCP option 150 -----------------------------------------

def test_f7_stepping_stones_one_step_per_reboot():
    current, seen = "P00303000400", []  # an SCCP 3.0 phone
    for _reboot in range(6):
        current = next_79xx_step(current, "P0S3-08-12-00")
        seen.append(current)
    assert seen == ["P00303010102", "P00305000500", "P00308000900"] + ["P0S3-08-12-00"] * 3


@pytest.mark.parametrize("current, wanted, step", [
    ("P00303020214", "P0S3-08-12-00", "P00305000500"),  # newer than the first stone
    ("P00308000500", "P0S3-08-12-00", "P00308000900"),
    ("P00308000900", "P0S3-08-12-00", "P0S3-08-12-00"),
    ("P0S3-08-12-00", "P0S3-08-12-00", "P0S3-08-12-00"),  # already there
    ("P00303000400", "P00305000500", "P00303010102"),  # wanted is itself a stone
    ("P00303010102", "P00305000500", "P00305000500"),
    ("P00308000900", "P00303010102", "P00303010102"),  # a downgrade goes straight (T-5)
    ("SCCP41.9-4-2SR3-1S", "SIP41.9-4-2SR3-1S", "SIP41.9-4-2SR3-1S"),  # 79x1: no stones
    ("p00303000400", "P0S3-08-12-00", "P00303010102"),
])
def test_f7_next_step(current, wanted, step):
    assert next_79xx_step(current, wanted) == step


@pytest.mark.parametrize("current, wanted", [("", "P00308000900"), ("P00303000400", ""), (None, "P00308000900")])
def test_f7_next_step_needs_both_loads(current, wanted):
    with pytest.raises(ValueError):
        next_79xx_step(current, wanted)


@pytest.mark.parametrize("ips, expected", [
    (("192.168.1.1",), ("C0A80101", "0101A8C0")),
    (("10.0.0.2",), ("0A000002", "0200000A")),
    (("192.168.1.1", "10.0.0.2"), ("C0A801010A000002", "0101A8C00200000A")),
])
def test_f7_dhcp_option_150(ips, expected):
    assert dhcp_option_150(*ips) == expected


@pytest.mark.parametrize("ips", [(), ("192.168.1",), ("256.1.1.1",), ("::1",), ("",), ("192.168.001.001",)])
def test_f7_dhcp_option_150_refuses_bad_addresses(ips):
    with pytest.raises(ValueError):
        dhcp_option_150(*ips)


# --- facts as data ---------------------------------------------------------------------------

def test_facts_override_corrects_a_fact(tmp_path):
    override = tmp_path / "firmware.toml"
    override.write_text('[models.8832NR]\nm2e_pid = "CP-8832-NR-3PCC-K9="\nmin_mpp_before_m2e = "12.0.3SR1"\n',
                        encoding="utf-8")
    facts = load_facts(override)
    verdict = eligibility("CP-8832-NR-3PCC-K9=", None, "12.0.3", M2E, facts=facts)
    assert verdict.status == "eligible"
    assert verdict.steps == ("sip8832.12-0-3MPP0101-92",)
    assert facts["models"]["8832NR"]["e2m"] is True  # the rest of the packaged entry is kept


def test_facts_override_with_a_bad_load_names_the_key(tmp_path):
    override = tmp_path / "firmware.toml"
    override.write_text('[models.8841]\nmpp_load = "sip88xx.twelve"\n', encoding="utf-8")
    with pytest.raises(ValueError, match="models.8841.mpp_load"):
        load_facts(override)


def test_verdict_is_frozen():
    verdict = eligibility("CP-8841-K9=", "V10", "14.2.1SR1", E2M)
    assert isinstance(verdict, Verdict)
    with pytest.raises(dataclasses.FrozenInstanceError):
        verdict.status = "ineligible"  # type: ignore[misc]
