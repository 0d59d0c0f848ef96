"""Applying a migration: C-1, C-2, C-11..C-14, S-1 and bad input, on both engines."""

from __future__ import annotations

import pytest
from sqlmodel import func, select

from models.rules.plan import Target
from models.rules.refusals import Refused
from models.services.migration import Migrator
from models.storage.settings import save_settings
from models.tables.devices import Device, KemModule
from models.tables.lines import DirectoryNumber, FeatureButton, LineAppearance
from models.tables.records import MigrationRecord
from models.tables.templates import PhoneButtonTemplate, SecurityProfile

ALICE = "SEP001122330001"  # 7965 SCCP, custom template, 7914, 7 lines + intercom, 3 feature buttons
NEW = "SEPAABBCCDDEEFF"


@pytest.fixture
def migrator(demo_db):
    return Migrator(demo_db)


def dump(db):
    """Every row of every table, to prove that a refusal changed nothing."""
    from sqlmodel import SQLModel

    with db.session() as s:
        return {
            t.name: sorted(map(repr, s.connection().execute(t.select()).all()))
            for t in SQLModel.metadata.sorted_tables if t.name != "migration_record"
        }


def device(s, name):
    return s.exec(select(Device).where(Device.name == name)).first()


def line_dns(s, dev):
    rows = s.exec(select(LineAppearance).where(LineAppearance.device_id == dev.id).order_by(LineAppearance.position))
    return [s.get(DirectoryNumber, la.dn_id).pattern for la in rows]


def test_c1_c5_c11_alice_7965_to_8861(migrator, demo_db):
    result = migrator.migrate(ALICE, Target(mac="aa:bb:cc:dd:ee:ff", model="8861", protocol="SIP"), door="admin", actor="t")
    assert result.applied and result.new_device == NEW
    with demo_db.session() as s:
        new, old = device(s, NEW), device(s, ALICE)
        assert line_dns(s, new) == ["1001", "1002", "1020", "1021", "1022", "1023", "1024"]
        assert [k.model for k in s.exec(select(KemModule).where(KemModule.device_id == new.id))] == ["BEKEM"]
        assert len(s.exec(select(FeatureButton).where(FeatureButton.device_id == new.id)).all()) == 3
        assert s.get(PhoneButtonTemplate, new.button_template_id).name == "Custom 7965 SCCP"
        assert s.get(SecurityProfile, new.security_profile_id).name.endswith("Non-Secure")
        assert (new.owner_id, new.device_pool, new.calling_search_space, new.location, new.protocol) == (
            old.owner_id, "HQ_DP", "Internal_CSS", "HQ", "SIP")
        # S-1 retain: old kept, marked migrated, keeps its lines as shared ones (C-1)
        assert old.migrated and old.successor == NEW
        assert "1001" in line_dns(s, old) and "3001" in line_dns(s, old)


def test_s1_delete_removes_old_phone_and_moves_intercom(migrator, demo_db):
    with demo_db.session() as s:
        save_settings(s, replacement_policy="delete")
    migrator.migrate(ALICE, Target(mac="AABBCCDDEEFF", model="8861"), door="admin")
    with demo_db.session() as s:
        assert device(s, ALICE) is None
        assert "3001" in line_dns(s, device(s, NEW))  # C-2
        rec = s.exec(select(MigrationRecord).where(MigrationRecord.outcome == "migrated")).one()
        assert rec.old_device == ALICE and rec.details["policy"] == "delete"


def test_c12_migrated_phone_cannot_be_migrated_again(migrator, demo_db):
    migrator.migrate(ALICE, Target(mac="AABBCCDDEEFF", model="8861"), door="admin")
    before = dump(demo_db)
    with pytest.raises(Refused) as exc:
        migrator.migrate(ALICE, Target(mac="AABBCCDDEE00", model="8861"), door="admin")
    assert exc.value.code == "already_migrated"
    assert dump(demo_db) == before


@pytest.mark.parametrize("old,target,code", [
    ("SEP0000000000FF", Target(mac="AABBCCDDEEFF", model="8861"), "unknown_device"),
    (ALICE, Target(mac="AABBCCDDEEF", model="8861"), "bad_mac"),
    (ALICE, Target(mac="GGBBCCDDEEFF", model="8861"), "bad_mac"),
    (ALICE, Target(mac="AA:BB:CC:DD:EE:FF:00", model="8861"), "bad_mac"),
    (ALICE, Target(mac="AABBCCDDEEFF", model="9999"), "unknown_model"),
    (ALICE, Target(mac="AABBCCDDEEFF", model="CSF"), "jabber_target"),
    (ALICE, Target(mac="AABBCCDDEEFF", model="8861", protocol="SCCP"), "bad_protocol"),
    ("SEP001122330030", Target(mac="AABBCCDDEEFF", model="8851"), "video_to_audio"),
    (ALICE, Target(mac="001122330002", model="8861"), "mac_in_use"),  # bob's phone
    (ALICE, Target(mac="001122330001", model="8861"), "same_device"),
    (ALICE, Target(mac="AABBCCDDEEFF", template="No such template"), "unknown_template"),
])
def test_bad_input_refused_clearly_and_changes_nothing(migrator, demo_db, old, target, code):
    before = dump(demo_db)
    with pytest.raises(Refused) as exc:
        migrator.migrate(old, target, door="admin", actor="t")
    assert exc.value.code == code and exc.value.message
    assert dump(demo_db) == before
    with demo_db.session() as s:  # C-13: the refusal is recorded
        rec = s.exec(select(MigrationRecord)).one()
        assert rec.outcome == "refused" and rec.code == code


def test_c13_record_of_a_migration(migrator, demo_db):
    migrator.migrate(ALICE, Target(mac="AABBCCDDEEFF", model="8861"), door="admin", actor="admin:root")
    with demo_db.session() as s:
        rec = s.exec(select(MigrationRecord)).one()
        assert (rec.door, rec.actor, rec.old_device, rec.new_device, rec.outcome) == ("admin", "admin:root", ALICE, NEW, "migrated")
        assert any("move to the KEM" in w for w in rec.warnings)
        assert rec.at is not None


def test_c14_temporary_auto_registered_record_removed_and_dn_released(migrator, demo_db):
    migrator.migrate(ALICE, Target(mac="00AA11BB22CC", model="8851"), door="ivr")
    with demo_db.session() as s:
        new = device(s, "SEP00AA11BB22CC")
        assert not new.auto_registered and line_dns(s, new)[0] == "1001"
        assert s.exec(select(DirectoryNumber).where(DirectoryNumber.pattern == "9000")).first() is None


def test_c15_dry_run_changes_nothing(migrator, demo_db):
    before = dump(demo_db)
    result = migrator.migrate(ALICE, Target(mac="AABBCCDDEEFF", model="7841"), door="admin", dry_run=True)
    assert not result.applied and any("dropped" in loss for loss in result.plan.losses)
    assert dump(demo_db) == before


def test_c15_admin_may_migrate_a_registered_phone(migrator, demo_db):
    with demo_db.session() as s:
        grace_first = s.exec(select(Device).where(Device.registration == "registered").order_by(Device.name)).first().name
    assert migrator.migrate(grace_first, Target(mac="AABBCCDDEEFF", model="8861"), door="admin").applied


def test_c15_by_template(migrator, demo_db):
    from models.services.site import get_or_create_template
    with demo_db.session() as s:
        get_or_create_template(s, "Standard 8861 SIP", "standard", "8861", "SIP")
    result = migrator.migrate(ALICE, Target(mac="AABBCCDDEEFF", template="Standard 8861 SIP"), door="admin")
    assert result.plan.new_model == "8861" and result.plan.template_name == "Standard 8861 SIP"


def test_c1_shared_line_count(migrator, demo_db):
    migrator.migrate("SEP001122330002", Target(mac="AABBCCDDEEFF", model="8861"), door="admin")
    with demo_db.session() as s:
        dn = s.exec(select(DirectoryNumber).where(DirectoryNumber.pattern == "1001")).one()
        n = s.exec(select(func.count()).select_from(LineAppearance).where(LineAppearance.dn_id == dn.id)).one()
        assert n == 3  # alice's, bob's old and bob's new
