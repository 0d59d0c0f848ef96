"""R-1..R-3, R-5, R-6: what the registrar reports, on the demo site, on SQLite and PostgreSQL.

The registrar itself (Kamailio) is driven in tests/e2e; here the service gets
the REGISTERs it would forward."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from types import SimpleNamespace

import pytest
from sqlmodel import select

from models.rules import registration as rules
from models.rules.catalog import Catalog
from models.rules.plan import Target
from models.rules.refusals import Refused
from models.rules.registration import Register
from models.services.migration import Migrator
from models.services.provisioning import auto_register
from models.services.registrations import Registrations
from models.storage.database import Database
from models.storage.registration_rows import line_patterns
from models.storage.stamp import current_version
from models.tables.devices import Device
from models.tables.records import MigrationRecord
from models.tables.registrations import Registration
from tests.handclock import HandClock

BOB = "SEP001122330002"  # bob's 8851: lines 1002 (line 1) and 1001


def cisco(mac: str, aor: str, *, expires: int = 3600, call_id: str = "c1", port: int = 50057) -> Register:
    """A REGISTER as an 8851 sends it over TCP (R-2's Contact parameters)."""
    return Register(aor=aor, contact=f"sip:{aor}@192.0.2.10:{port};transport=tcp", transport="tcp",
                    source=f"127.0.0.1:{port}", call_id=call_id, expires=expires,
                    instance=f"<urn:uuid:00000000-0000-0000-0000-{mac}>", device_name=f"SEP{mac}",
                    user_agent="Cisco-CP8851/14.2.1", received=f"sip:127.0.0.1:{port};transport=tcp")


@pytest.fixture
def clock():
    return HandClock(datetime(2026, 12, 4, 12, 0, tzinfo=timezone.utc))


@pytest.fixture
def regs(demo_db: Database, clock):
    return Registrations(demo_db, clock=clock, grace_seconds=30, confirm_minutes=30)


def device_id(session, name: str) -> int:
    return session.exec(select(Device.id).where(Device.name == name)).one()


def device(db: Database, name: str) -> SimpleNamespace:
    with db.read_session() as session:
        return SimpleNamespace(**session.exec(select(Device).where(Device.name == name)).one().model_dump())


def record(db: Database, record_id: int) -> SimpleNamespace:
    with db.read_session() as session:
        return SimpleNamespace(**session.get(MigrationRecord, record_id).model_dump())


def test_r2_the_device_comes_from_cisco_parameters_then_the_aor():
    assert rules.device_of(cisco("001122330002", "1002")) == BOB
    bare = Register(aor="1002", contact="sip:1002@h", transport="udp", source="h:5060", call_id="x", expires=60,
                    instance="<urn:uuid:00000000-0000-0000-0000-00aabbccddee>")
    assert rules.device_of(bare) == "SEP00AABBCCDDEE"
    assert rules.device_of(Register(aor="sep001122330002", contact="sip:x@h", transport="udp", source="h:1",
                                    call_id="x", expires=60)) == BOB
    assert rules.device_of(Register(aor="1002", contact="sip:x@h", transport="udp", source="h:1", call_id="x",
                                    expires=60)) is None


@pytest.mark.parametrize("model", ["8851", "7841", None])
def test_r5_a_78xx_88xx_gets_service_control_as_cucm_sends_it(model):
    """R-5: the body FreeSWITCH (sofia_reg.c), wazo-provd's Cisco plugin and the usecallmanager patch
    send: action, RegisterCallId (empty braces when the REGISTER's Call-ID is unknown) and the three
    version stamps, all zeros so that the phone fetches everything again."""
    request = rules.restart_request(model, "00aa-1@192.0.2.10")
    assert request.headers == "Event: service-control\r\nSubscription-State: active\r\nContent-Type: text/plain\r\n"
    assert request.body.splitlines() == ["action=restart", "RegisterCallId={00aa-1@192.0.2.10}",
                                         "ConfigVersionStamp={0000000000000000}",
                                         "DialplanVersionStamp={0000000000000000}",
                                         "SoftkeyVersionStamp={0000000000000000}"]
    assert "RegisterCallId={}\r\n" in rules.restart_request(model, None).body
    assert rules.restart_request(model, None, "reset").body.startswith("action=reset\r\n")


def test_r5_a_sip_7940_7960_gets_check_sync_and_nothing_else_is_an_action():
    assert rules.restart_request("7960", "x") == rules.RestartRequest(
        "Event: check-sync\r\nSubscription-State: terminated\r\n", "")
    with pytest.raises(ValueError):
        rules.restart_request("8851", "x", "reboot")


def test_r1_a_register_for_a_known_phone_and_one_of_its_lines_is_accepted(regs):
    assert regs.check(cisco("001122330002", "1002")) == BOB
    assert regs.check(cisco("001122330002", "1001")) == BOB  # its shared line 2


@pytest.mark.parametrize("reg, code", [
    (cisco("00AABBCCDDEE", "1002"), "register_unknown_device"),  # an unknown MAC
    (cisco("001122330002", "1003"), "register_foreign_dn"),  # carol's DN on bob's phone
    (cisco("001122330002", "1002", expires=-1), "bad_register"),
])
def test_r1_anything_else_is_refused_and_changes_nothing(regs, demo_db, reg, code):
    before = device(demo_db, BOB)
    with pytest.raises(Refused) as refused:
        regs.registered(reg)
    assert refused.value.code == code
    after = device(demo_db, BOB)
    assert (after.registration, after.sip_contact) == (before.registration, before.sip_contact)
    with demo_db.read_session() as session:
        assert session.exec(select(Registration)).all() == []


def test_r3_a_registration_is_stored_and_feeds_d3_and_c14(regs, demo_db, clock):
    stamp = _stamp(demo_db)
    regs.registered(cisco("001122330002", "1002"))
    bob = device(demo_db, BOB)
    assert bob.registration == "registered" and bob.register_call_id == "c1"
    assert bob.sip_contact == "sip:1002@192.0.2.10:50057;transport=tcp"
    with demo_db.read_session() as session:
        row = SimpleNamespace(**session.get(Registration, BOB).model_dump())
    assert (row.transport, row.source, row.user_agent) == ("tcp", "127.0.0.1:50057", "Cisco-CP8851/14.2.1")
    assert row.expires_at == clock.now + timedelta(seconds=3600)
    assert _stamp(demo_db) == stamp  # no config file reads it: the cached files stay valid
    target = regs.restart_target(BOB)
    assert (target.received, target.call_id, target.model) == ("sip:127.0.0.1:50057;transport=tcp", "c1", "8851")


def test_r3_a_registration_never_refreshed_expires_after_the_grace(regs, demo_db, clock):
    regs.registered(cisco("001122330002", "1002", expires=60))
    clock.now += timedelta(seconds=60 + 29)
    assert regs.expire() == 0 and device(demo_db, BOB).registration == "registered"
    clock.now += timedelta(seconds=2)
    assert regs.expire() == 1
    assert device(demo_db, BOB).registration == "unregistered" and regs.restart_target(BOB) is None


def test_r3_de_register_and_a_stale_one(regs, demo_db):
    regs.registered(cisco("001122330002", "1002", call_id="old"))
    regs.registered(cisco("001122330002", "1002", call_id="new"))
    assert not regs.unregistered(BOB, "old")  # the phone registered again meanwhile
    assert device(demo_db, BOB).registration == "registered"
    regs.registered(cisco("001122330002", "1002", call_id="new", expires=0))
    assert device(demo_db, BOB).registration == "unregistered"


def test_r3_reconciliation_heals_lost_events(regs, demo_db):
    regs.registered(cisco("001122330002", "1002"))  # its de-registration was lost on the way
    carol = cisco("001122330010", "1003", port=50058)  # a registration whose event was lost
    counts = regs.reconcile([carol, cisco("00AABBCCDDEE", "1002", port=50059)])
    assert counts == {"registered": 1, "unregistered": 1, "refused": 1}
    assert device(demo_db, BOB).registration == "unregistered"
    assert device(demo_db, "SEP001122330010").registration == "registered"


def test_r6_the_new_phone_registering_its_new_line_1_confirms_the_migration(regs, demo_db, clock):
    migrator = Migrator(demo_db)
    result = migrator.migrate(BOB, Target(mac="00AABBCC0001", model="8861"), door="api", actor="test")
    assert result.applied
    applied = record(demo_db, result.record_id)
    clock.now = applied.at + timedelta(minutes=5)
    assert regs.confirmation(applied.at, applied.confirmed_at) == "applied"
    regs.registered(cisco("00AABBCC0001", "1001", port=50060))  # line 2: not yet the confirmation
    outcome = regs.registered(cisco("00AABBCC0001", "1002", port=50060))
    assert outcome.confirmed == (result.record_id,)
    confirmed = record(demo_db, result.record_id)
    assert confirmed.confirmed_at == clock.now and regs.confirmation(confirmed.at, confirmed.confirmed_at) == "confirmed"


def test_r3_r5_a_binding_refused_now_but_admitted_before_is_kept_until_it_expires(regs, demo_db, clock):
    """R-3: a new phone registers the temporary DN auto-registration gave it (T-4); the migration onto
    it takes that DN away while the phone waits on its binding for the restart. Reconciliation neither
    refreshes nor ends the binding Kamailio still lists, so the restart still finds the phone (R-5);
    it ends at expiry."""
    new = "SEP00AABBCC0009"
    with demo_db.session() as session:
        session.flush([auto_register(session, "00AABBCC0009", Catalog.load())])
        dn = line_patterns(session.connection(), device_id(session, new))[1]
    binding = cisco("00AABBCC0009", dn, expires=60)
    regs.registered(binding)
    Migrator(demo_db).migrate(BOB, Target(mac="00AABBCC0009", model="8851"), door="api", actor="test")
    with pytest.raises(Refused):
        regs.check(binding)  # the temporary DN is no longer a line of the phone
    assert regs.reconcile([binding]) == {"registered": 0, "unregistered": 0, "refused": 1}
    assert regs.restart_target(new) is not None
    clock.now += timedelta(seconds=91)
    assert regs.expire() == 1 and regs.restart_target(new) is None


def test_r6_an_unconfirmed_migration_is_flagged_after_the_time_allowed(regs, clock):
    applied = clock.now - timedelta(minutes=31)
    assert regs.confirmation(applied, None) == "unconfirmed"
    assert regs.confirmation(clock.now - timedelta(minutes=29), None) == "applied"


def test_r6_an_old_phone_that_registers_again_is_flagged(regs, demo_db, clock):
    migrator = Migrator(demo_db)
    result = migrator.migrate(BOB, Target(mac="00AABBCC0002", model="8861"), door="api", actor="test")
    clock.now += timedelta(hours=1)
    outcome = regs.registered(cisco("001122330002", "1002", port=50061))  # retain: it keeps its shared lines
    assert outcome.old_returned == (result.record_id,)
    assert regs.registered(cisco("001122330002", "1002", port=50061)).old_returned == ()  # flagged once


def _stamp(db: Database) -> int:
    with db.read_session() as session:
        return current_version(session)


def test_r6_the_report_says_applied_then_confirmed_and_the_old_phone_coming_back(regs, demo_db, clock):
    from models.services import reports

    result = Migrator(demo_db).migrate(BOB, Target(mac="00AABBCC0003", model="8861"), door="api", actor="test")
    applied = record(demo_db, result.record_id)
    with demo_db.read_session() as session:
        row = session.get(MigrationRecord, result.record_id)
        assert reports.public_records(session, [row], now=applied.at + timedelta(minutes=29))[0].confirmation == "applied"
        assert reports.public_records(session, [row], now=applied.at + timedelta(minutes=31))[0].confirmation == \
            "unconfirmed"
    clock.now = applied.at + timedelta(minutes=3)
    regs.registered(cisco("00AABBCC0003", "1002", port=50062))
    regs.registered(cisco("001122330002", "1002", port=50063))  # someone plugged the old phone back in
    with demo_db.read_session() as session:
        public = reports.records(session)
        text = reports.report_csv(public)
    mine = next(r for r in public if r.new_device == "SEP00AABBCC0003")
    assert mine.confirmation == "confirmed" and mine.confirmed_at == clock.now and mine.old_returned_at == clock.now
    header, first = text.splitlines()[:2]
    assert header.endswith("warnings,confirmation,confirmed_at,old_returned_at")
    assert first.endswith(f"confirmed,{clock.now.isoformat(timespec='seconds')},{clock.now.isoformat(timespec='seconds')}")
