"""A-4 and A-6 as pure functions: hashing, trivial PINs, the lockout clock."""

from datetime import datetime, timedelta, timezone

import pytest

from models.rules import auth
from models.rules.refusals import Refused
from models.rules.settings import SiteSettings
from models.tables.users import AuthCodeThrottle, CredentialState

T0 = datetime(2026, 1, 1, 9, 0, tzinfo=timezone.utc)


def test_a6_secret_is_hashed_with_argon2_and_verifies():
    hashed = auth.hash_secret("7314")
    assert hashed.startswith("$argon2id$") and "7314" not in hashed
    assert auth.verify_secret(hashed, "7314")
    assert not auth.verify_secret(hashed, "7315")
    assert not auth.verify_secret(None, "7314")
    assert not auth.verify_secret("garbage", "7314")


@pytest.mark.parametrize("pin,reason", [
    ("1111", "same digit"),
    ("1212", "fewer than 3"),
    ("1001", "fewer than 3"),
    ("51001", "extension"),
    ("1234", "consecutive"),
    ("9876", "consecutive"),
    ("123123", "repeated group"),
    ("2580", "keypad"),
    ("0852", "keypad"),
])
def test_a4_trivial_pins_refused(pin, reason):
    assert reason in auth.trivial_pin_reason(pin, ["1001"])
    with pytest.raises(Refused) as exc:
        auth.check_new_pin(pin, ["1001"], SiteSettings())
    assert exc.value.code == "trivial_pin"


@pytest.mark.parametrize("pin", ["7314", "5093", "846195"])
def test_a4_good_pins_accepted(pin):
    assert auth.trivial_pin_reason(pin, ["1001"]) is None
    auth.check_new_pin(pin, ["1001"], SiteSettings())


def test_a4_trivial_check_can_be_turned_off_but_format_still_checked():
    auth.check_new_pin("1111", [], SiteSettings(trivial_pin_check=False))
    for bad in ("12a4", "12", "1" * 21):
        with pytest.raises(Refused):
            auth.check_new_pin(bad, [], SiteSettings(trivial_pin_check=False))


def test_a4_lockout_after_threshold_and_expiry():
    policy = SiteSettings()  # 3 failures, 30 min reset, 30 min lockout
    state = CredentialState(user_id=1)
    assert not auth.record_failure(state, policy, T0)
    assert not auth.record_failure(state, policy, T0 + timedelta(minutes=1))
    assert auth.record_failure(state, policy, T0 + timedelta(minutes=2))
    assert auth.is_locked(state, policy, T0 + timedelta(minutes=31))
    assert auth.lock_remaining_minutes(state, policy, T0 + timedelta(minutes=3)) == 29
    assert not auth.is_locked(state, policy, T0 + timedelta(minutes=33))


def test_a4_failure_counter_resets_after_the_window():
    policy = SiteSettings()
    state = CredentialState(user_id=1)
    auth.record_failure(state, policy, T0)
    auth.record_failure(state, policy, T0 + timedelta(minutes=1))
    assert not auth.record_failure(state, policy, T0 + timedelta(minutes=40))
    assert state.failures == 1


def test_a4_lockout_zero_means_admin_must_unlock():
    policy = SiteSettings(lockout_minutes=0)
    state = CredentialState(user_id=1)
    for i in range(3):
        auth.record_failure(state, policy, T0)
    assert auth.is_locked(state, policy, T0 + timedelta(days=365))
    assert auth.lock_remaining_minutes(state, policy, T0) is None
    auth.record_success(state)
    assert not auth.is_locked(state, policy, T0)


def test_a4_auth_code_guessing_rate_limited_per_device():
    policy = SiteSettings(auth_code_max_failures=5, auth_code_block_minutes=15)
    throttle = AuthCodeThrottle(device_name="SEP001122334455")
    for i in range(5):
        assert not auth.code_blocked(throttle, T0)
        auth.record_code_failure(throttle, policy, T0)
    assert auth.code_blocked(throttle, T0 + timedelta(minutes=14))
    assert not auth.code_blocked(throttle, T0 + timedelta(minutes=16))


@pytest.mark.parametrize("code,ok", [("", True), ("951413", True), ("1" * 20, True), ("1" * 21, False), ("12ab", False)])
def test_s4_auth_code_is_0_to_20_digits(code, ok):
    if ok:
        auth.check_auth_code_format(code)
    else:
        with pytest.raises(Refused):
            auth.check_auth_code_format(code)
