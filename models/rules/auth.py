"""A-rules: secrets, the trivial-PIN check and the credential policy lockout.

Pure functions over ``CredentialState`` / ``AuthCodeThrottle`` rows and a
``now`` passed in; the engine (``models.services.selfservice``) does the storage.
PINs and the authentication code are hashed with argon2id (A-6), at 4 MiB and
2 passes (about 3.5 ms here), below OWASP's password minimum on purpose: a
PIN has 10^4 to 10^8 values, so no hashing cost survives an offline attack on
a stolen hash; what protects a PIN is the lockout (A-4) and keeping the hashes
out of reach. The cost is kept low so the self-service doors stay fast on two
cores (19 MiB cost 20 ms a login). Hashes made with other parameters are
re-hashed at the next successful login (``needs_rehash``).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Protocol

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from models.rules.refusals import Refused
from models.rules.settings import SiteSettings

_hasher = PasswordHasher(time_cost=2, memory_cost=4 * 1024, parallelism=1)
# Verified against when the user is unknown, so both answers cost the same.
_DUMMY_HASH = _hasher.hash("not-a-pin")

KEYPAD_LINES = ("123", "456", "789", "147", "258", "369", "0258", "2580", "159", "357", "0852", "8520")


def hash_secret(secret: str) -> str:
    return _hasher.hash(secret)


def needs_rehash(stored_hash: str) -> bool:
    return _hasher.check_needs_rehash(stored_hash)


def verify_secret(stored_hash: str | None, secret: str) -> bool:
    """True when ``secret`` matches; a missing hash costs the same as a miss."""
    try:
        return _hasher.verify(stored_hash or _DUMMY_HASH, secret) and stored_hash is not None
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def check_pin_format(pin: str, policy: SiteSettings) -> None:
    if not pin.isdigit():
        raise Refused("bad_pin", "A PIN is made of digits only")
    if len(pin) < policy.pin_min_length:
        raise Refused("bad_pin", f"A PIN needs at least {policy.pin_min_length} digits")
    if len(pin) > 20:
        raise Refused("bad_pin", "A PIN has at most 20 digits")


def trivial_pin_reason(pin: str, extensions: list[str]) -> str | None:
    """Why a PIN is trivial per Unified CM's credential policy, or None."""
    if len(set(pin)) == 1:
        return "the same digit repeated"
    if len(set(pin)) < 3:
        return "fewer than 3 different digits"
    for ext in extensions:
        if ext and (ext in pin or ext[::-1] in pin or pin in (ext, ext[::-1])):
            return "the extension or its reverse"
    for size in range(1, len(pin) // 2 + 1):
        if len(pin) % size == 0 and pin[:size] * (len(pin) // size) == pin:
            return "a repeated group of digits"
    if _is_sequence(pin):
        return "consecutive digits"
    for line in KEYPAD_LINES:
        if pin in (line, line[::-1]) or (len(pin) >= 4 and (line in pin and len(line) >= 4)):
            return "a line of the keypad"
    return None


def _is_sequence(pin: str) -> bool:
    steps = {(int(b) - int(a)) % 10 for a, b in zip(pin, pin[1:])}
    return steps in ({1}, {9})


def check_new_pin(pin: str, extensions: list[str], policy: SiteSettings) -> None:
    check_pin_format(pin, policy)
    if policy.trivial_pin_check:
        reason = trivial_pin_reason(pin, extensions)
        if reason:
            raise Refused("trivial_pin", f"That PIN is too easy to guess ({reason}); choose another")


def check_auth_code_format(code: str) -> None:
    """S-4: the authentication code is 0 to 20 digits."""
    if not (code.isdigit() or code == "") or len(code) > 20:
        raise Refused("bad_auth_code", "The authentication code is 0 to 20 digits")



class CredentialState(Protocol):
    """What the lockout rules read and write of a user's counters (the ``credential_state`` row)."""

    failures: int
    first_failure_at: datetime | None
    locked_at: datetime | None


class AuthCodeThrottle(Protocol):
    """What the code throttle reads and writes of a device's counters (the ``auth_code_throttle`` row)."""

    failures: int
    window_start: datetime | None
    blocked_until: datetime | None


# --- lockout (A-4) -----------------------------------------------------------


def is_locked(state: CredentialState | None, policy: SiteSettings, now: datetime) -> bool:
    if state is None or state.locked_at is None:
        return False
    if policy.lockout_minutes == 0:
        return True
    return now < state.locked_at + timedelta(minutes=policy.lockout_minutes)


def lock_remaining_minutes(state: CredentialState, policy: SiteSettings, now: datetime) -> int | None:
    """Whole minutes left, None when only an administrator can unlock."""
    if policy.lockout_minutes == 0 or state.locked_at is None:
        return None
    left = state.locked_at + timedelta(minutes=policy.lockout_minutes) - now
    return max(1, -(-int(left.total_seconds()) // 60))


def record_failure(state: CredentialState, policy: SiteSettings, now: datetime) -> bool:
    """Count one failed PIN; True when this failure locks the user."""
    if state.locked_at is not None and not is_locked(state, policy, now):
        state.locked_at = None  # an expired lockout starts a fresh count
        state.failures = 0
    window = timedelta(minutes=policy.failure_reset_minutes)
    if state.first_failure_at is None or now - state.first_failure_at > window:
        state.failures = 0
        state.first_failure_at = now
    state.failures += 1
    if state.failures >= policy.lockout_threshold and state.locked_at is None:
        state.locked_at = now
        return True
    return False


def record_success(state: CredentialState) -> None:
    state.failures = 0
    state.first_failure_at = None
    state.locked_at = None


def code_blocked(throttle: AuthCodeThrottle | None, now: datetime) -> bool:
    return bool(throttle and throttle.blocked_until and now < throttle.blocked_until)


def record_code_failure(throttle: AuthCodeThrottle, policy: SiteSettings, now: datetime) -> None:
    window = timedelta(minutes=policy.auth_code_block_minutes)
    if throttle.window_start is None or now - throttle.window_start > window:
        throttle.window_start = now
        throttle.failures = 0
    throttle.failures += 1
    if throttle.failures >= policy.auth_code_max_failures:
        throttle.blocked_until = now + window
