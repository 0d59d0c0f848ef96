"""The self-service path shared by the IVR and the screens: S, A, D and P rules."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlmodel import select

from models.rules.attempt import Attempt
from models.rules.clock import utcnow
from models.rules.refusals import Refused
from models.services.demo import AUTH_CODE
from models.services.migration import Migrator
from models.services.selfservice import INVALID, SelfService
from models.services.site import LineSpec, create_device
from models.storage.settings import save_settings
from models.tables.devices import Device
from models.tables.lines import DirectoryNumber, LineAppearance
from models.tables.records import MigrationRecord
from models.tables.users import AuthCodeThrottle, CredentialState
from tests.handclock import HandClock

NEW = "SEP00AA11BB22CC"  # the demo's auto-registered 8851


@pytest.fixture
def clock():
    return HandClock(utcnow())


@pytest.fixture
def svc(demo_db, clock):
    return SelfService(Migrator(demo_db), clock=clock)


def login(svc, entry, secret, door="ivr", device=NEW):
    attempt = Attempt(door=door, new_device=device)
    svc.identify(attempt, entry)
    svc.authenticate(attempt, secret)
    return attempt


def refused(fn, *args):
    with pytest.raises(Refused) as exc:
        fn(*args)
    return exc.value


def test_a1_both_choices_exist_on_one_service(svc):
    assert callable(svc.replace) and callable(svc.provision)


def test_a2_identify_by_extension_then_replace_one_phone(svc, demo_db):
    attempt = login(svc, "1012", "1739")  # olivia, one unregistered phone
    selection = svc.select(attempt)
    assert selection.chosen.name == "SEP001122330033"
    result = svc.replace(attempt, selection.chosen.name)
    assert result.new_device == NEW
    with demo_db.session() as s:
        new = s.exec(select(Device).where(Device.name == NEW)).one()
        assert not new.auto_registered and new.model == "8851"
        old = s.exec(select(Device).where(Device.name == "SEP001122330033")).one()
        assert old.migrated and old.successor == NEW


def test_a2_s3_identify_by_self_service_user_id(svc, demo_db):
    with demo_db.session() as s:
        save_settings(s, identification="self_service_user_id")
    attempt = login(svc, "51012", "1739")
    assert attempt.role == "user" and attempt.user_name == "olivia"
    # the bare extension is not a self-service id
    assert refused(login, svc, "1012", "1739").code == "invalid_credentials"


def test_s3_dn_in_two_partitions_refused_for_self_service(svc):
    r = refused(svc.identify, Attempt(door="screen", new_device=NEW), "1010")
    assert r.code == "dn_in_several_partitions" and r.final


def test_a3_user_pin_reaches_only_own_devices(svc):
    attempt = login(svc, "1002", "5093")  # bob
    assert [c.name for c in svc.select(attempt).choices or [svc.select(attempt).chosen]] == ["SEP001122330002"]


def test_a3_auth_code_reaches_ownerless_lobby_phone(svc, demo_db):
    attempt = login(svc, "2000", AUTH_CODE)
    assert attempt.role == "admin"
    assert svc.select(attempt).chosen.name == "SEP001122330040"
    svc.replace(attempt, "SEP001122330040")
    with demo_db.session() as s:
        rec = s.exec(select(MigrationRecord).where(MigrationRecord.outcome == "migrated")).one()
        assert rec.door == "ivr" and "admin" in rec.actor


def test_a3_auth_code_acts_for_any_user(svc):
    attempt = login(svc, "1012", AUTH_CODE)
    assert svc.select(attempt).chosen.name == "SEP001122330033"


def test_a3_users_only_refuses_the_auth_code(svc, demo_db):
    with demo_db.session() as s:
        save_settings(s, authentication="users_only")
    assert refused(login, svc, "2000", AUTH_CODE).code == "invalid_credentials"


def test_s4_authentication_none_skips_the_secret(svc, demo_db):
    with demo_db.session() as s:
        save_settings(s, authentication="none")
    assert not svc.needs_secret()
    attempt = Attempt(door="ivr", new_device=NEW)
    svc.identify(attempt, "1012")
    assert attempt.role == "user"


@pytest.mark.parametrize("extension", ["1001", "7777"])
def test_a4_three_wrong_entries_end_the_session(svc, extension):
    attempt = Attempt(door="ivr", new_device=NEW)
    svc.identify(attempt, extension)
    assert not refused(svc.authenticate, attempt, "0000").final
    assert not refused(svc.authenticate, attempt, "0001").final
    last = refused(svc.authenticate, attempt, "0002")
    assert last.final and "self-care portal" in last.message


def test_a4_failures_count_per_user_across_doors_and_lock(svc, demo_db, clock):
    for door in ("ivr", "screen"):
        attempt = Attempt(door=door, new_device=NEW)
        svc.identify(attempt, "1001")
        refused(svc.authenticate, attempt, "0000")
    attempt = Attempt(door="ivr", new_device=NEW)
    svc.identify(attempt, "1001")
    r = refused(svc.authenticate, attempt, "0000")
    assert r.code == "locked" and r.final and "30 minutes" in r.message
    # the right PIN is refused while locked, from any door
    assert refused(login, svc, "1001", "7314", "screen").code == "locked"
    clock.now += timedelta(minutes=31)
    assert login(svc, "1001", "7314").role == "user"
    with demo_db.session() as s:
        user_state = s.exec(select(CredentialState)).all()
        assert all(st.failures in (0, 3) for st in user_state)


def test_a4_locked_demo_user_is_told_so(svc):
    r = refused(login, svc, "1011", "8349")
    assert r.code == "locked" and "administrator" in r.message


def test_a4_auth_code_guessing_throttled_per_device(svc, demo_db):
    with demo_db.session() as s:
        save_settings(s, session_attempts=10, auth_code_max_failures=2)
    attempt = Attempt(door="ivr", new_device="SEP001122AABBCC")
    svc.identify(attempt, "2000")
    refused(svc.authenticate, attempt, "1")
    refused(svc.authenticate, attempt, "2")
    # blocked now: even the right code fails from this device ...
    assert refused(svc.authenticate, attempt, AUTH_CODE).code == "invalid_credentials"
    # ... but not from another one
    assert login(svc, "2000", AUTH_CODE, device="SEP001122AABBCD").role == "admin"


def test_a4_code_counters_of_made_up_devices_are_pruned_after_their_window(svc, demo_db, clock):
    """A wrong code from an invented MAC leaves a counter; it goes once its window has passed."""
    with demo_db.session() as s:
        save_settings(s, auth_code_block_minutes=15, session_attempts=10)

    def keys() -> set[str]:
        with demo_db.read_session() as s:
            return set(s.exec(select(AuthCodeThrottle.device_name)).all())

    start = clock.now
    refused(login, svc, "2000", "1", "ivr", "SEP00000000F001")
    clock.now = start + timedelta(minutes=14)
    refused(login, svc, "2000", "1", "ivr", "SEP00000000F002")
    assert {"SEP00000000F001", "SEP00000000F002"} <= keys()
    clock.now = start + timedelta(minutes=16)
    refused(login, svc, "2000", "1", "ivr", "SEP00000000F003")
    assert "SEP00000000F001" not in keys() and {"SEP00000000F002", "SEP00000000F003"} <= keys()


def test_a5_unknown_extension_and_wrong_pin_same_answer(svc):
    unknown = refused(login, svc, "7777", "7314")
    wrong = refused(login, svc, "1001", "0000")
    assert unknown.code == wrong.code == "invalid_credentials"
    assert unknown.message == wrong.message == INVALID


def test_a6_no_secret_in_records_or_attempt(svc, demo_db):
    attempt = Attempt(door="ivr", new_device=NEW)
    svc.identify(attempt, "1001")
    refused(svc.authenticate, attempt, "7315")
    assert "7315" not in repr(attempt)
    with demo_db.session() as s:
        for rec in s.exec(select(MigrationRecord)):
            assert "7315" not in rec.model_dump_json()


@pytest.mark.parametrize("user,pin,expected", [
    ("carol", "8162", "chosen"),     # scenario 1
    ("dave", "4729", "chosen"),      # scenario 2
    ("erin", "3851", "list"),        # scenario 3
    ("frank", "6207", "list"),       # scenario 4
    ("grace", "9436", "list"),       # scenario 5
    ("heidi", "2975", "list"),       # scenario 6
])
def test_d3_demo_users_walk_table3(svc, user, pin, expected):
    ext = {"carol": "1003", "dave": "1004", "erin": "1005", "frank": "1006", "grace": "1007", "heidi": "1008"}[user]
    selection = svc.select(login(svc, ext, pin, door="screen"))
    assert (selection.chosen is not None) == (expected == "chosen")


def test_d1_candidates_exclude_migrated_new_phone_and_screen_video(svc, demo_db):
    attempt = login(svc, "1009", "5318", door="screen")  # ivan: only a video 8865
    assert refused(svc.select, attempt).code == "no_old_phone"
    attempt = login(svc, "1009", "5318", door="ivr")
    assert svc.select(attempt).chosen.name == "SEP001122330030"


def test_d1_only_line1_counts(svc):
    # alice's 1001 is line 2 on bob's phone: not bob's phone for alice
    attempt = login(svc, "1001", "7314")
    assert svc.select(attempt).chosen.name == "SEP001122330001"


def test_d2_shared_line_settings_carry(svc, demo_db):
    attempt = login(svc, "1002", "5093")
    svc.replace(attempt, svc.select(attempt).chosen.name)
    with demo_db.session() as s:
        new = s.exec(select(Device).where(Device.name == NEW)).one()
        dns = [s.get(DirectoryNumber, la.dn_id).pattern for la in s.exec(
            select(LineAppearance).where(LineAppearance.device_id == new.id).order_by(LineAppearance.position))]
        assert dns == ["1002", "1001"]


def test_d3_chosen_from_list_is_migrated_even_if_registered(svc):
    attempt = login(svc, "1007", "9436")  # grace: three registered
    selection = svc.select(attempt)
    assert svc.replace(attempt, selection.choices[0].name).applied


def test_d3_not_a_candidate_refused(svc):
    attempt = login(svc, "1007", "9436")
    svc.select(attempt)
    assert refused(svc.replace, attempt, "SEP001122330001").code == "not_a_candidate"


def test_caller_not_a_new_phone_refused(svc):
    attempt = login(svc, "1012", "1739", device="SEP001122330002")  # bob's provisioned 8851
    svc.select(attempt)
    assert refused(svc.replace, attempt, "SEP001122330033").code == "not_a_new_phone"


def test_p1_provision_new_phone_to_user(svc, demo_db):
    attempt = login(svc, "1012", "1739")
    assert svc.provision(attempt) == NEW
    with demo_db.session() as s:
        new = s.exec(select(Device).where(Device.name == NEW)).one()
        assert new.owner_id is not None and not new.auto_registered
        line1 = s.exec(select(LineAppearance).where(LineAppearance.device_id == new.id, LineAppearance.position == 1)).one()
        assert s.get(DirectoryNumber, line1.dn_id).pattern == "1012"
        # the temporary DN returned to the pool
        assert s.exec(select(DirectoryNumber).where(DirectoryNumber.pattern == "9000")).first() is None
        assert new.device_template == "Sample Universal Device Template"


def test_p1_refused_when_profile_forbids(svc, demo_db):
    from models.tables.users import UserProfile
    with demo_db.session() as s:
        for p in s.exec(select(UserProfile)):
            p.allow_self_provisioning = False
            s.add(p)
    assert refused(svc.provision, login(svc, "1012", "1739")).code == "not_allowed"


def test_p1_s7_phone_limit(svc, demo_db):
    # olivia's profile allows 2 phones; she has one
    with demo_db.session() as s:
        create_device(s, "0011AABBCC01", "8841", owner="olivia", lines=[LineSpec("1012", "Internal_PT")])
    assert refused(svc.provision, login(svc, "1012", "1739")).code == "phone_limit"


def test_p1_s7_phone_of_another_user(svc, demo_db):
    with demo_db.session() as s:
        new = s.exec(select(Device).where(Device.name == NEW)).one()
        new.owner_id = s.exec(select(Device).where(Device.name == "SEP001122330033")).one().owner_id  # olivia (may reassign)
        s.add(new)
    # bob takes olivia's phone: olivia's profile allows reassignment
    assert svc.provision(login(svc, "1002", "5093")) == NEW
    # now bob's: bob's profile does not allow it
    assert refused(svc.provision, login(svc, "1012", "1739")).code == "owned_by_other"


def test_c13_refusals_recorded(svc, demo_db):
    attempt = login(svc, "1007", "9436")
    svc.select(attempt)
    refused(svc.replace, attempt, "SEP001122330001")
    with demo_db.session() as s:
        rec = s.exec(select(MigrationRecord).where(MigrationRecord.outcome == "refused")).one()
        assert rec.code == "not_a_candidate" and rec.door == "ivr"


def test_caller_device_by_dn_devicename_or_instance(svc):
    assert svc.caller_device("9000") == NEW  # the auto-registered DN on line 1 (T-4)
    assert svc.caller_device(None, "sep00aa11bb22cc") == NEW
    assert svc.caller_device("5555", None, "<urn:uuid:00000000-0000-0000-0000-00aa11bb22cc>") == NEW
    assert svc.caller_device("1001") is None  # a provisioned phone's DN is not a new phone
    assert svc.caller_device(None) is None


def test_c13_abandoned_attempt_keeps_the_extension_never_the_pin(svc, demo_db):
    """C-13: given up after the PIN was accepted: one ``abandoned`` record with the extension, no PIN anywhere."""
    attempt = login(svc, "1012", "1739")
    svc.abandon(attempt, "provision")
    svc.abandon(Attempt(door="ivr", new_device=NEW), "replace")  # nothing keyed: nothing to record
    with demo_db.read_session() as session:
        records = [r.model_dump() for r in session.exec(select(MigrationRecord))]
    [record] = records
    assert (record["door"], record["action"], record["outcome"], record["new_device"]) == (
        "ivr", "provision", "abandoned", NEW)
    assert record["details"] == {"extension": "1012"} and "1012" in record["message"]
    assert record["actor"].startswith("olivia") and "1739" not in repr(record)
