"""Administrator accounts (admin web UI) and API tokens (REST API).

Passwords are argon2id at full cost (19 MiB, 2 passes: OWASP's minimum; a
password is not a PIN). API tokens are 32 random bytes shown once and stored as
SHA-256 (a high-entropy token needs a lookup, not a slow hash), with scopes
``read`` and ``write``. A token's ``last_used_at`` is kept to the minute, so
an administrator can see which tokens are idle before revoking them, without
a write on every request. Logins are throttled per user name (A-4), in the
same counters as the devices' code guesses.

The functions take the caller's session (the demo loader and the CLI compose
them); ``AdminAccounts`` and ``Tokens`` are the web doors' way in, one
transaction a method.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlmodel import Session, select

from models.rules import auth
from models.rules.phrases import count
from models.rules.refusals import Refused
from models.storage.database import Database
from models.storage.queries import prune_throttles, row_by_id
from models.storage.settings import web_secret
from models.tables.admins import AdminAccount, ApiToken
from models.tables.users import ADMIN_THROTTLE_PREFIX, AuthCodeThrottle

SCOPES = ("read", "write")
_passwords = PasswordHasher(time_cost=2, memory_cost=19 * 1024, parallelism=1)
_DUMMY = _passwords.hash("not-a-password")
TOKEN_USE_RESOLUTION = timedelta(minutes=1)
ADMIN_LOGIN_MAX_FAILURES = 5
ADMIN_LOGIN_BLOCK_MINUTES = 15


def create_admin(session: Session, username: str, password: str) -> AdminAccount:
    if not username or len(username) > 64:
        raise Refused("bad_username", "a user name is 1 to 64 characters")
    if len(password) < 10:
        raise Refused("weak_password", "an administrator password has at least 10 characters")
    if session.exec(select(AdminAccount).where(AdminAccount.username == username)).first():
        raise Refused("admin_exists", f'administrator "{username}" already exists')
    account = AdminAccount(username=username, password_hash=_passwords.hash(password))
    session.add(account)
    session.flush()
    return account


def check_password(session: Session, username: str, password: str) -> AdminAccount | None:
    """The account when the password matches; the same cost whether or not the user exists."""
    account = session.exec(select(AdminAccount).where(AdminAccount.username == username)).first()
    try:
        ok = _passwords.verify(account.password_hash if account else _DUMMY, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        ok = False
    return account if ok and account is not None and not account.disabled else None


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create_token(session: Session, name: str, scopes: list[str]) -> tuple[str, ApiToken]:
    """A new token, returned once in clear: ``pm_<43 url-safe characters>``."""
    bad = [s for s in scopes if s not in SCOPES]
    if bad or not scopes:
        raise Refused("bad_scope", f"scopes are {', '.join(SCOPES)}")
    token = "pm_" + secrets.token_urlsafe(32)
    row = ApiToken(name=name, token_hash=_digest(token), scopes=sorted(set(scopes)))
    session.add(row)
    session.flush()
    return token, row


def find_token(session: Session, token: str) -> ApiToken | None:
    """The token's row when the token is valid, None when unknown or revoked."""
    if not token.startswith("pm_"):
        return None
    row = session.exec(select(ApiToken).where(ApiToken.token_hash == _digest(token))).first()
    return None if row is None or row.revoked else row


def token_use_due(row: ApiToken, now: datetime) -> bool:
    """Whether this use must be written: never used, or last written a minute or more ago."""
    return row.last_used_at is None or now - row.last_used_at >= TOKEN_USE_RESOLUTION


def record_token_use(session: Session, token_id: int, now: datetime) -> None:
    row = session.get(ApiToken, token_id)
    if row is not None and token_use_due(row, now):
        row.last_used_at = now
        session.add(row)


def revoke_token(session: Session, token_id: int) -> None:
    row = row_by_id(session, ApiToken, token_id)
    if row is None:
        raise Refused("unknown_token", f"no API token {token_id}")
    row.revoked = True
    session.add(row)


def api_token_name(session: Session, token: str) -> str | None:
    """The name of a valid API token: the actor of the records its requests make (C-13)."""
    row = find_token(session, token)
    return row.name if row is not None else None


# --- the admin UI's login (A-4) --------------------------------------------------


def _admin_throttle_key(username: str) -> str:
    key = ADMIN_THROTTLE_PREFIX + username
    return key if len(key) <= 64 else ADMIN_THROTTLE_PREFIX + "#" + hashlib.sha256(username.encode()).hexdigest()[:48]


def admin_login(db, username: str, password: str, now: datetime) -> AdminAccount | Refused:
    """A-4 for the admin UI: 5 failed logins for one user name block it for 15 minutes.

    Returns the refusal instead of raising it. Unknown and known user names
    count alike. The password is checked in a read transaction (argon2 at full
    cost takes about 20 ms and must not hold the write lock the migrations
    need); only the counter is written, and stale counters are pruned then.
    """
    key = _admin_throttle_key(username)
    blocked = Refused("admin_login_blocked", f"Too many failed logins for this user name; try again in "
                      f"{count(ADMIN_LOGIN_BLOCK_MINUTES, 'minute')} or ask another administrator")
    with db.read_session() as session:
        throttle = session.get(AuthCodeThrottle, key)
        if auth.code_blocked(throttle, now):
            return blocked
        account = check_password(session, username, password) if username and password else None
        session.expunge_all()
    if account is not None and throttle is None:
        return account
    window = timedelta(minutes=ADMIN_LOGIN_BLOCK_MINUTES)
    with db.session() as session:
        throttle = session.get(AuthCodeThrottle, key)
        if account is not None:
            if throttle is not None:
                session.delete(throttle)
            return account
        if auth.code_blocked(throttle, now):  # blocked meanwhile, by a parallel attempt
            return blocked
        throttle = throttle or AuthCodeThrottle(device_name=key)
        if throttle.window_start is None or now - throttle.window_start > window:
            throttle.window_start, throttle.failures = now, 0
        throttle.failures += 1
        if throttle.failures >= ADMIN_LOGIN_MAX_FAILURES:
            throttle.blocked_until = now + window
        session.add(throttle)
        prune_throttles(session, admin=True, window_start_before=now - window, now=now)
    return Refused("bad_login", "The user name or password is not valid")


def admin_account(session: Session, admin_id: int) -> AdminAccount | None:
    """The enabled administrator with this id (the admin UI's session check)."""
    account = session.get(AdminAccount, admin_id)
    return account if account is not None and not account.disabled else None


# --- the doors' way in: one transaction a method -------------------------------------


@dataclass(frozen=True)
class Administrator:
    """A logged-in administrator as the admin UI keeps it: no password hash."""

    id: int
    username: str
    role: str = "full"  # E-2: full | read_only


class AdminAccounts:
    """Administrator logins (A-4) and the admin UI's cookie-signing key."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def login(self, username: str, password: str, now: datetime) -> Administrator | Refused:
        """``admin_login``: the administrator, or the refusal (returned, not raised)."""
        outcome = admin_login(self.db, username, password, now)
        return outcome if isinstance(outcome, Refused) else Administrator(outcome.id, outcome.username, outcome.role)

    def enabled(self, admin_id: int) -> Administrator | None:
        """The administrator with this id when the account is enabled (every admin request checks)."""
        with self.db.read_session() as session:
            account = admin_account(session, admin_id)
            return Administrator(account.id, account.username, account.role) if account is not None else None

    def session_key(self) -> str:
        """The key that signs the admin UI's cookies: made once, shared by every process on this database."""
        with self.db.session() as session:
            return web_secret(session)


class Tokens:
    """The REST API's bearer tokens as each request checks them."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def scopes(self, token: str, now: datetime) -> list[str] | None:
        """The scopes of a valid token, None when unknown or revoked. The use is written
        only when ``token_use_due`` (to the minute): most requests only read."""
        with self.db.read_session() as session:
            row = find_token(session, token)
            scopes, token_id, due = (list(row.scopes), row.id, token_use_due(row, now)) if row else (None, None, False)
        if due:
            with self.db.session() as session:
                record_token_use(session, token_id, now)
        return scopes

    def name(self, token: str) -> str | None:
        """The name of a valid token: the actor of the records its requests make (C-13)."""
        with self.db.read_session() as session:
            return api_token_name(session, token)
