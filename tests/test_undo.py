"""U-1: undo a migration, through the one service (models.services.undo) every door calls."""

from __future__ import annotations

from datetime import timedelta

import pytest
from lxml import etree
from sqlmodel import select

from models.rules.clock import utcnow
from models.rules.plan import Target
from models.rules.refusals import Refused
from models.services.bat import export_text
from models.services.migration import Migrator
from models.services.undo import Undoer
from models.storage.settings import save_settings
from models.tables.devices import Device
from models.tables.lines import FeatureButton
from models.tables.records import MigrationRecord
from models.tables.undo import MigrationSnapshot

ALICE, NEW, OTHER = "SEP001122330001", "SEPAABBCCDDEEFF", "SEPAABBCCDDEE11"


def migrate(db, old=ALICE, mac="aa:bb:cc:dd:ee:ff", model="8861") -> int:
    return Migrator(db).migrate(old, Target(mac=mac, model=model, protocol="SIP"), door="admin", actor="t").record_id


def refusal_of(db, record_id, **undoer) -> Refused:
    with pytest.raises(Refused) as caught:
        Undoer(db, **undoer).undo(record_id, door="cli", actor="t")
    return caught.value


def set_device(db, name, **values) -> None:
    with db.session() as s:
        device = s.exec(select(Device).where(Device.name == name)).one()
        for key, value in values.items():
            setattr(device, key, value)
        s.add(device)


def test_u1_the_old_phone_gets_back_exactly_its_rows_bat_export_byte_for_byte(demo_db):
    """U-1: after the undo the BAT export (every phone, all details) is the one from before the migration."""
    before = export_text(demo_db)
    record_id = migrate(demo_db)
    assert export_text(demo_db) != before
    preview = Undoer(demo_db).preview(record_id)
    assert (preview.old_device, preview.new_device) == (ALICE, NEW)
    assert preview.lines[0].startswith("1: 1001") and preview.kems == ["1: 7914"]
    assert any(r.startswith("migrated: True -> False") for r in preview.restored)
    done = Undoer(demo_db).undo(record_id, door="admin", actor="t")
    assert done.applied and done.undo_record_id
    assert export_text(demo_db) == before
    with demo_db.session() as s:
        old = s.exec(select(Device).where(Device.name == ALICE)).one()
        assert not old.migrated and old.successor is None
        assert s.exec(select(Device).where(Device.name == NEW)).first() is None
        original, undo = s.get(MigrationRecord, record_id), s.get(MigrationRecord, done.undo_record_id)
        assert original.outcome == "undone"
        assert (undo.action, undo.outcome, undo.old_device, undo.new_device, undo.details) == (
            "undo", "undone", ALICE, NEW, {"record": record_id})
        assert s.get(MigrationSnapshot, record_id).undone_at is not None
    # C-12's one-copy index no longer holds the undone migration: the phone migrates again
    assert migrate(demo_db) > done.undo_record_id


def test_u1_registration_facts_are_not_changes(demo_db):
    """U-1: the phones registering after the migration (R-1) does not block the undo."""
    record_id = migrate(demo_db)
    set_device(demo_db, NEW, registration="registered", sip_contact="sip:x@127.0.0.1:5070", reported_load="sip88xx.14")
    set_device(demo_db, ALICE, registration="unregistered")
    assert Undoer(demo_db).undo(record_id, door="api").applied


def test_u1_the_new_mac_is_served_xmldefault_again(services):
    """U-1: over the HTTP config door the new MAC's own file is gone (404, so the phone takes
    XMLDefault.cnf.xml, as any phone this server does not know)."""
    from phoneservice.web.app import create_app

    with services.db.session() as s:
        save_settings(s, autoreg_enabled=False)
    config = create_app(services, "config").test_client()
    record_id = migrate(services.db)
    assert config.get(f"/{NEW}.cnf.xml").status_code == 200
    Undoer(services.db).undo(record_id, door="admin")
    assert config.get(f"/{NEW}.cnf.xml").status_code == 404
    default = config.get("/XMLDefault.cnf.xml")
    assert default.status_code == 200 and etree.fromstring(default.data).tag == "Default"


def test_u1_refused_when_the_old_phone_was_deleted_by_policy_delete(demo_db):
    """U-1, S-1: under delete the old phone is gone; nothing to give back."""
    with demo_db.session() as s:
        save_settings(s, replacement_policy="delete")
    refusal = refusal_of(demo_db, migrate(demo_db))
    assert refusal.code == "undo_old_deleted" and "replacement policy delete" in refusal.message


def test_u1_refused_when_the_policy_is_no_longer_retain(demo_db):
    """U-1, S-1: undo only under retain."""
    record_id = migrate(demo_db)
    with demo_db.session() as s:
        save_settings(s, replacement_policy="delete")
    assert refusal_of(demo_db, record_id).code == "undo_needs_retain"


def test_u1_refused_outside_the_window(demo_db):
    """U-1: the window is the site's undo_window_hours."""
    record_id = migrate(demo_db)
    with demo_db.session() as s:
        save_settings(s, undo_window_hours=2)
    later = utcnow() + timedelta(hours=2, minutes=1)
    refusal = refusal_of(demo_db, record_id, clock=lambda: later)
    assert refusal.code == "undo_window_passed" and "2 hours" in refusal.message
    assert Undoer(demo_db, clock=lambda: later - timedelta(minutes=2)).preview(record_id).new_device == NEW


def test_u1_refused_when_the_old_phone_changed(demo_db):
    """U-1: an administrator's change to the old phone since the migration would be lost."""
    record_id = migrate(demo_db)
    set_device(demo_db, ALICE, description="changed")
    refusal = refusal_of(demo_db, record_id)
    assert refusal.code == "undo_device_changed" and f"{ALICE} has changed" in refusal.message
    assert "description" in refusal.message


def test_u1_refused_when_the_new_phone_changed(demo_db):
    """U-1: a button added to the new phone since the migration would be lost."""
    record_id = migrate(demo_db)
    with demo_db.session() as s:
        new = s.exec(select(Device).where(Device.name == NEW)).one()
        s.add(FeatureButton(device_id=new.id, position=99, target="5555", label="added"))
    refusal = refusal_of(demo_db, record_id)
    assert refusal.code == "undo_device_changed" and f"{NEW} has changed since the migration (features)" in refusal.message


def test_u1_refused_when_the_old_phone_was_deleted_since(demo_db):
    """U-1: the old phone deleted after the migration."""
    from models.storage.devices import delete_device

    record_id = migrate(demo_db)
    with demo_db.session() as s:
        delete_device(s, s.exec(select(Device).where(Device.name == ALICE)).one())
    assert refusal_of(demo_db, record_id).code == "undo_old_deleted"


def test_u1_refused_when_the_new_phone_was_migrated_again(demo_db):
    """U-1: the new phone has itself been migrated; that one must be undone first."""
    record_id = migrate(demo_db)
    second = migrate(demo_db, old=NEW, mac="aa:bb:cc:dd:ee:11")
    refusal = refusal_of(demo_db, record_id)
    assert refusal.code == "undo_new_migrated" and "undo that migration first" in refusal.message
    Undoer(demo_db).undo(second, door="cli")
    assert Undoer(demo_db).undo(record_id, door="cli").applied  # in that order, both come back


def test_u1_refused_twice_and_for_what_is_not_a_migration(demo_db):
    """U-1: a migration is undone once; a refusal record or an unknown id cannot be undone."""
    record_id = migrate(demo_db)
    Undoer(demo_db).undo(record_id, door="cli")
    assert refusal_of(demo_db, record_id).code == "already_undone"
    with pytest.raises(Refused) as caught:
        migrate(demo_db, old="SEPFFFFFFFFFFFF")
    with demo_db.session() as s:
        refused = s.exec(select(MigrationRecord).where(MigrationRecord.outcome == "refused")).first()
    assert caught.value.code == "unknown_device"
    assert refusal_of(demo_db, refused.id).code == "not_undoable"
    assert refusal_of(demo_db, 999_999).code == "unknown_record"
    # past what any id column holds (schemathesis sent 19624524104762458112: SQLite overflowed, a 500)
    assert refusal_of(demo_db, 2**64 + 1).code == "unknown_record"
    assert refusal_of(demo_db, -1).code == "unknown_record"


def test_u1_c13_every_refused_undo_is_recorded(demo_db):
    """U-1, C-13: a refused undo is recorded as a refusal of the action undo, with its reason."""
    record_id = migrate(demo_db)
    set_device(demo_db, ALICE, description="changed")
    refusal_of(demo_db, record_id)
    with demo_db.session() as s:
        row = s.exec(select(MigrationRecord).where(MigrationRecord.action == "undo")).one()
    assert (row.outcome, row.code, row.old_device, row.new_device) == ("refused", "undo_device_changed", ALICE, NEW)


def test_u1_c12_two_undos_at_once_one_applies(demo_db):
    """U-1, C-12: two doors undoing the same migration at the same moment: one undoes it, the other is
    told it is already undone (or, on PostgreSQL's NOWAIT lock, that it is being changed); the phone is
    given back once."""
    from concurrent.futures import ThreadPoolExecutor

    record_id = migrate(demo_db)
    before = Undoer(demo_db).preview(record_id)

    def attempt(door):
        try:
            return Undoer(demo_db).undo(record_id, door=door).applied
        except Refused as refusal:
            return refusal.code

    with ThreadPoolExecutor(2) as pool:
        outcomes = list(pool.map(attempt, ["api", "admin"]))
    assert outcomes.count(True) == 1 and {o for o in outcomes if o is not True} <= {"already_undone", "being_migrated"}
    with demo_db.session() as s:
        assert len(s.exec(select(MigrationRecord).where(MigrationRecord.outcome == "undone",
                                                        MigrationRecord.action == "undo")).all()) == 1
        assert s.exec(select(Device).where(Device.name == before.new_device)).first() is None


def test_u1_a_migration_that_kept_no_snapshot_cannot_be_undone(demo_db):
    """U-1: migrations applied before undo existed (no snapshot kept) are refused with that reason."""
    record_id = migrate(demo_db)
    with demo_db.session() as s:
        s.delete(s.get(MigrationSnapshot, record_id))
    refusal = refusal_of(demo_db, record_id)
    assert refusal.code == "not_undoable" and "made before undo existed" in refusal.message


def test_u1_changes_ignore_what_the_registration_writes():
    """U-1 (pure rule): registration facts are not changes; a column, a line or a KEM is, by name."""
    from models.rules.undo import changes

    kept = {"device": {"description": "a", "registration": "registered", "sip_contact": None},
            "lines": [{"position": 1}], "features": [], "kems": []}
    same = {**kept, "device": {**kept["device"], "registration": "unregistered", "sip_contact": "sip:x@h"}}
    assert changes(kept, same) == []
    moved = {**kept, "device": {**kept["device"], "description": "b"}, "kems": [{"slot": 1, "model": "BEKEM"}]}
    assert changes(kept, moved) == ["description", "kems"]
