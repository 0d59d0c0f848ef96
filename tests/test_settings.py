"""Site settings (S-1..S-6) and the schemas that face outward (A-6)."""

from __future__ import annotations

import pytest

from models.rules.refusals import Refused
from models.rules.settings import SiteSettings, parse_value
from models.services.selfservice import FORGOTTEN_PIN
from models.storage.database import Database
from models.storage.settings import current_settings, load_settings, save_settings
from models.tables.devices import DevicePublic
from models.tables.records import MigrationRecordPublic
from models.tables.users import EndUserCreate, EndUserPublic, EndUserUpdate


@pytest.fixture
def db(sqlite_url):
    database = Database(sqlite_url)
    database.create_all()
    yield database
    database.dispose()


def test_defaults_follow_the_spec():
    s = SiteSettings()
    assert (s.replacement_policy, s.security_profile_policy, s.identification) == ("retain", "mapped", "primary_extension")
    assert (s.lockout_threshold, s.failure_reset_minutes, s.lockout_minutes) == (3, 30, 30)  # OL-18611
    assert s.session_attempts == 3


@pytest.mark.parametrize("key,value", [
    ("replacement_policy", "delete"),            # S-1
    ("security_profile_policy", "non_secure"),   # S-2
    ("identification", "self_service_user_id"),  # S-3
    ("authentication", "users_only"),            # S-4
])
def test_s1_to_s4_values_stored(db, key, value):
    with db.session() as s:
        save_settings(s, **{key: value})
    with db.session() as s:
        assert getattr(load_settings(s), key) == value


@pytest.mark.parametrize("changes,key", [
    ({"replacement_policy": "shred"}, "replacement_policy"),
    ({"autoreg_start_dn": "9100", "autoreg_end_dn": "9000"}, "autoreg"),
    ({"autoreg_start_dn": "90a0"}, "autoreg"),
    ({"lockout_threshold": 0}, "lockout_threshold"),
    ({"ivr_languages": []}, "ivr_languages"),
    ({"no_such_thing": 1}, "no_such_thing"),
])
def test_bad_values_refused_naming_the_key_and_nothing_stored(db, changes, key):
    with pytest.raises(Refused) as exc:
        with db.session() as s:
            save_settings(s, **changes)
    assert key in exc.value.message
    with db.session() as s:
        assert load_settings(s) == SiteSettings()


def test_s5_auto_registration_range_and_templates(db):
    with db.session() as s:
        saved = save_settings(s, autoreg_enabled=True, autoreg_start_dn="0100", autoreg_end_dn="0199",
                              autoreg_device_template="Lobby UDT", autoreg_line_template="Lobby ULT")
    assert (saved.autoreg_start_dn, saved.autoreg_device_template) == ("0100", "Lobby UDT")


def test_s4_ivr_languages_parse_from_cli_text():
    assert parse_value("ivr_languages", "fr, en") == ["fr", "en"]
    assert parse_value("ivr_languages", '["de"]') == ["de"]
    assert parse_value("autoreg_enabled", "off") is False
    with pytest.raises(Refused):
        parse_value("autoreg_enabled", "maybe")


def test_a6_public_settings_hide_the_auth_code_hash():
    public = SiteSettings(auth_code_hash="$argon2id$...").public()
    assert "auth_code_hash" not in public and public["auth_code_set"] is True


@pytest.mark.parametrize("schema", [EndUserPublic, EndUserCreate, EndUserUpdate, DevicePublic, MigrationRecordPublic])
def test_a6_no_outward_schema_carries_a_pin_hash(schema):
    assert not any("hash" in name for name in schema.model_fields)


def test_a7_forgotten_pin_advice():
    assert "self-care portal" in FORGOTTEN_PIN and "administrator" in FORGOTTEN_PIN


def test_settings_cache_sees_a_change_from_another_process_at_once(db_url):
    """load_settings is cached under the settings stamp: a change made through
    another engine (another process, in production) is seen on the next read."""
    reader, writer = Database(db_url), Database(db_url)
    reader.upgrade()
    try:
        with reader.read_session() as s:
            assert load_settings(s).replacement_policy == "retain"
        assert current_settings(reader).replacement_policy == "retain"  # the path without an ORM session
        with writer.session() as s:
            save_settings(s, replacement_policy="delete")
        assert current_settings(reader).replacement_policy == "delete"
        with reader.read_session() as s:
            assert load_settings(s).replacement_policy == "delete"
        with writer.session() as s:
            save_settings(s, replacement_policy="retain")
        assert current_settings(reader).replacement_policy == "retain"
    finally:
        reader.dispose()
        writer.dispose()


def test_settings_cache_never_keeps_a_rolled_back_change(db):
    with db.session() as s:
        save_settings(s, ivr_route_point="8100")
    with pytest.raises(RuntimeError):
        with db.session() as s:
            save_settings(s, ivr_route_point="8200")
            assert load_settings(s).ivr_route_point == "8200"  # this transaction sees its own change
            raise RuntimeError("roll back")
    with db.read_session() as s:
        assert load_settings(s).ivr_route_point == "8100"
    with db.session() as s:  # the stamp now takes the number the rolled-back change had
        save_settings(s, pin_min_length=5)
    with db.read_session() as s:
        assert (load_settings(s).ivr_route_point, load_settings(s).pin_min_length) == ("8100", 5)


def test_settings_cache_is_per_database(tmp_path):
    first, second = Database(f"sqlite:///{tmp_path / 'a.db'}"), Database(f"sqlite:///{tmp_path / 'b.db'}")
    for d in (first, second):
        d.upgrade()
    with first.session() as s:
        save_settings(s, ivr_route_point="8300")
    with first.read_session() as s, second.read_session() as t:
        assert (load_settings(s).ivr_route_point, load_settings(t).ivr_route_point) == ("8300", "8000")
    first.dispose()
    second.dispose()
