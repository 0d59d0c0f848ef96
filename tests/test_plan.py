"""The plan as a pure function: C-1..C-11 and C-15, no database."""

from __future__ import annotations

import pytest

from models.rules.catalog import default_catalog
from models.rules.plan import DeviceSnapshot, FeatureSnapshot, LineSnapshot, Target, plan
from models.rules.refusals import Refused
from models.rules.security import NON_SECURE, ProfileSpec

CAT = default_catalog()


def lines(n: int, intercom_at: int | None = None) -> tuple[LineSnapshot, ...]:
    return tuple(
        LineSnapshot(position=i, dn_id=i, pattern=f"10{i:02}", partition="PT", label=f"L{i}", is_intercom=(i == intercom_at))
        for i in range(1, n + 1)
    )


def old(**kw) -> DeviceSnapshot:
    base = dict(name="SEP001122334455", model="7965", protocol="SCCP", owner="alice", lines=lines(2),
                template_name="Standard 7965 SCCP", template_kind="standard")
    base.update(kw)
    return DeviceSnapshot(**base)


def make(old_device=None, model="8861", protocol=None, **kw):
    return plan(old_device or old(), Target(mac="AABBCCDDEEFF", model=model, protocol=protocol), "SEPAABBCCDDEEFF", CAT, **kw)


def test_c1_lines_in_order_with_line1_primary():
    p = make(old(lines=lines(3)))
    assert [b.source_position for b in p.lines] == [1, 2, 3]
    assert [b.position for b in p.lines] == [1, 2, 3]
    assert not any(b.on_kem for b in p.lines)
    assert p.losses == []


def test_c1_lines_beyond_keys_move_to_kem_with_the_exact_message():
    p = make(old(lines=lines(7), kems=("7914",)), model="8861")
    assert [b.on_kem for b in p.lines] == [False] * 5 + [True] * 2
    assert "Your new phone has 5 line keys; lines 6 and 7 will move to the KEM" in p.warnings
    assert [(w.code, w.params) for w in p.warnings] == [("lines_to_kem", {"lines": [6, 7]})]


def test_c1_lines_beyond_keys_without_kem_are_dropped_and_reported():
    p = make(old(lines=lines(6)), model="7841")
    assert len(p.lines) == 4
    assert any("lines 5 and 6 will be dropped" in loss for loss in p.losses)
    assert [loss.params for loss in p.losses if loss.code == "lines_dropped"] == [{"lines": [5, 6]}]


def test_c1_feature_buttons_follow_the_lines_and_are_dropped_when_no_room():
    features = (FeatureSnapshot(1, "speed_dial", "911", "Emergency"), FeatureSnapshot(2, "blf", "1004", "Dave"))
    p = make(old(lines=lines(3), features=features), model="7841")
    assert len(p.features) == 1 and p.features[0].source_position == 1
    assert any('BLF "Dave"' in loss for loss in p.losses)


def test_c1_retain_keeps_old_lines_as_shared_delete_does_not():
    assert make(replacement_policy="retain").old_keeps_lines
    assert not make(replacement_policy="delete").old_keeps_lines


@pytest.mark.parametrize("policy,carried", [("retain", 2), ("delete", 3)])
def test_c2_intercom_dn_migrates_only_under_delete(policy, carried):
    p = make(old(lines=lines(3, intercom_at=3)), replacement_policy=policy)
    assert len(p.lines) == carried
    assert any("intercom" in loss for loss in p.losses) == (policy == "retain")


@pytest.mark.parametrize(
    "mode,tftp,transport,key_order,expected",
    [
        ("non_secure", False, "tcp", "rsa", "Universal Device Template - Security Profile - Non-Secure"),
        ("authenticated", False, "tls", "rsa", "Universal Device Template - Security Profile - Authenticated"),
        ("encrypted", False, "tls", "rsa", "Universal Device Template - Security Profile - Encrypted"),
        ("encrypted", True, "tls", "rsa", "Universal Device Template - Security Profile - Encrypted - Device_TFTP"),
        ("encrypted", True, "tls", "ec_preferred_rsa_backup", "Universal Device Template - Security Profile - Encrypted - Device_TFTP"),
        ("encrypted", False, "tls", "ec_preferred_rsa_backup", "Universal Device Template - Security Profile - Encrypted EC preferred"),
    ],
)
def test_c3_security_profile_table_rows_through_the_plan(mode, tftp, transport, key_order, expected):
    p = make(old(security=ProfileSpec("Old", mode, tftp, transport, key_order)))
    assert p.security_profile == expected


def test_s2_non_secure_policy_forces_non_secure():
    p = make(old(security=ProfileSpec("Old", "encrypted", True, "tls", "rsa")), security_policy="non_secure")
    assert p.security_profile == NON_SECURE


@pytest.mark.parametrize(
    "old_model,old_protocol,template,kind,new_model,expected",
    [  # source Table 6
        ("7965", "SCCP", "Standard 7965 SCCP", "standard", "8861", "Standard 8861 SIP"),
        ("7965", "SCCP", "Universal Device Template Button layout", "universal", "8861", "Universal Device Template Button layout"),
        ("7965", "SCCP", "Custom 7965 SCCP", "custom", "8861", "Custom 7965 SCCP"),
        ("8851", "SIP", "Standard 8851 SIP", "standard", "8861", "Standard 8861 SIP"),
    ],
)
def test_c4_button_template_table(old_model, old_protocol, template, kind, new_model, expected):
    p = make(old(model=old_model, protocol=old_protocol, template_name=template, template_kind=kind), model=new_model)
    assert p.template_name == expected


@pytest.mark.parametrize(
    "old_model,old_kem,new_model,expected",
    [  # source Table 5: same KEM if compatible, else the compatible one
        ("8851", "BEKEM", "8861", ["BEKEM"]),
        ("7965", "7914", "8861", ["BEKEM"]),
        ("7965", "7915", "8851", ["BEKEM"]),
        ("8865", "CP-8800-Video", "8865", ["CP-8800-Video"]),
        ("8861", "CP-8800-Audio", "8861", ["CP-8800-Audio"]),
    ],
)
def test_c5_kem_table(old_model, old_kem, new_model, expected):
    p = make(old(model=old_model, protocol=CAT.model(old_model).protocols[0], kems=(old_kem,)), model=new_model)
    assert p.kems == expected


def test_c5_new_model_without_kem_loses_them_reported():
    p = make(old(kems=("7914",), lines=lines(2)), model="7841")
    assert p.kems == []
    assert any("7914" in loss for loss in p.losses)


def test_c5_kem_count_capped_by_new_model():
    p = make(old(model="8861", protocol="SIP", kems=("BEKEM", "BEKEM", "BEKEM")), model="8851")
    assert p.kems == ["BEKEM", "BEKEM"]
    assert any("at most 2" in loss for loss in p.losses)


def test_c6_params_kept_when_new_model_defines_them_else_defaults():
    p = make(old(model="8851", protocol="SIP", product_params={"webAccess": "0", "madeUp": "x"}), model="8861")
    assert p.product_params["webAccess"] == "0"
    assert "madeUp" not in p.product_params
    assert set(p.product_params) == set(CAT.model("8861").product_params)
    assert any("madeUp" in loss for loss in p.losses)


@pytest.mark.parametrize("old_params,line_mode,all_calls", [
    ({}, "0", "1"),  # not configured: Session Line Mode, Show All Calls enabled
    ({"lineMode": "1", "allCallsOnPrimary": "0"}, "1", "0"),  # configured: carried
])
def test_c6_line_mode_and_all_calls_on_primary(old_params, line_mode, all_calls):
    p = make(old(model="8851", protocol="SIP", product_params=old_params), model="8861")
    assert p.product_params["lineMode"] == line_mode
    assert p.product_params["allCallsOnPrimary"] == all_calls


def test_c7_sccp_to_sip_takes_sip_defaults():
    p = make(old(model="7965", protocol="SCCP", product_params={"settingsAccess": "0"}), model="8861")
    assert p.new_protocol == "SIP"
    assert p.device["sip_profile"] == "Standard SIP Profile"
    assert "settingsAccess" not in p.product_params
    assert p.product_params["lineMode"] == "0"


def test_c8_extension_mobility_carries_and_user_logged_out():
    p = make(old(em_enabled=True, em_logged_in_user="erin"))
    assert p.device["em_enabled"] is True
    assert p.device["em_logged_in_user"] is None
    assert any("erin" in w and "logged out" in w for w in p.warnings)


def test_c9_cti_controlled_stays():
    assert make(old(cti_controlled=True)).device["cti_controlled"] is True


def test_c10_video_only_to_video_and_lock_not_retained():
    video = old(model="8865", protocol="SIP", locked=True)
    with pytest.raises(Refused) as exc:
        make(video, model="8861")
    assert exc.value.code == "video_to_audio"
    assert make(video, model="8845").device["locked"] is False


@pytest.mark.parametrize("jabber", ["CSF", "TCT", "TAB", "BOT"])
def test_c10_jabber_never_a_target(jabber):
    with pytest.raises(Refused) as exc:
        make(model=jabber)
    assert exc.value.code == "jabber_target"


def test_c11_device_settings_carry_and_name_is_sep_upper_mac():
    src = old(description="Desk", device_pool="HQ", calling_search_space="CSS", location="HQ_LOC", em_enabled=True)
    p = plan(src, Target(mac="aabbccddeeff", model="8861"), "SEPAABBCCDDEEFF", CAT)
    assert p.new_name == "SEPAABBCCDDEEFF"
    assert (p.device["description"], p.device["device_pool"], p.device["calling_search_space"], p.device["location"]) == (
        "Desk", "HQ", "CSS", "HQ_LOC")


def test_c11_description_from_target_overrides():
    p = plan(old(), Target(mac="AABBCCDDEEFF", model="8861", description="New desk"), "SEPAABBCCDDEEFF", CAT)
    assert p.device["description"] == "New desk"


def test_c12_migrated_phone_refused_in_plan():
    with pytest.raises(Refused) as exc:
        make(old(migrated=True))
    assert exc.value.code == "already_migrated"


@pytest.mark.parametrize("model,protocol,code", [
    ("9999", None, "unknown_model"),
    ("8861", "SCCP", "bad_protocol"),
])
def test_c15_bad_targets_refused(model, protocol, code):
    with pytest.raises(Refused) as exc:
        make(model=model, protocol=protocol)
    assert exc.value.code == code


def test_c15_by_template_uses_its_model_and_protocol():
    lookup = {"Standard 8861 SIP": ("8861", "SIP")}.get
    p = plan(old(), Target(mac="AABBCCDDEEFF", template="Standard 8861 SIP"), "SEPAABBCCDDEEFF", CAT, template_lookup=lookup)
    assert (p.new_model, p.new_protocol, p.template_name) == ("8861", "SIP", "Standard 8861 SIP")
    with pytest.raises(Refused):
        plan(old(), Target(mac="AABBCCDDEEFF", template="Nope"), "SEPAABBCCDDEEFF", CAT, template_lookup=lookup)


def test_c15_summary_lists_losses_before_warnings():
    p = make(old(lines=lines(7, intercom_at=7), kems=("7914",), em_logged_in_user="x"))
    assert p.summary()[: len(p.losses)] == p.losses


def test_c15_losses_and_warnings_are_structured_notes_that_read_as_their_sentence():
    """A door words a plan by code (the IVR's "move to the KEM"); the text stays what records keep."""
    from models.rules import outcomes

    note = outcomes.Note(outcomes.LINES_TO_KEM, "Your new phone has 2 line keys; line 3 will move to the KEM", lines=[3])
    assert note == "Your new phone has 2 line keys; line 3 will move to the KEM" and note.params == {"lines": [3]}
    assert outcomes.has([note], outcomes.LINES_TO_KEM) and not outcomes.has(["plain text"], outcomes.LINES_TO_KEM)
    import pickle
    assert pickle.loads(pickle.dumps(note)).code == outcomes.LINES_TO_KEM
    import pytest
    with pytest.raises(KeyError):
        outcomes.Note("not_a_note", "x")
