"""Administrator accounts (admin web UI) and API tokens (REST API).

Passwords are argon2id at full cost (19 MiB, 2 passes: OWASP's minimum; a
password is not a PIN). API tokens are 32 random bytes shown once and stored as
SHA-256 (a high-entropy token needs a lookup, not a slow hash), with scopes
``read`` and ``write``. A token's ``last_used_at`` is kept to the minute, so
an administrator can see which tokens are idle before revoking them, without
a write on every request.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy import JSON, Column
from sqlmodel import Field, Session, SQLModel, select

from models.clock import utcnow
from models.errors import Refused

SCOPES = ("read", "write")
_passwords = PasswordHasher(time_cost=2, memory_cost=19 * 1024, parallelism=1)
_DUMMY = _passwords.hash("not-a-password")
TOKEN_USE_RESOLUTION = timedelta(minutes=1)


class AdminAccount(SQLModel, table=True):
    __tablename__ = "admin_account"
    id: int | None = Field(default=None, primary_key=True)
    username: str = Field(unique=True, index=True, max_length=64)
    password_hash: str
    created_at: datetime = Field(default_factory=utcnow)
    disabled: bool = False


class ApiToken(SQLModel, table=True):
    __tablename__ = "api_token"
    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=64)
    token_hash: str = Field(unique=True, index=True, max_length=64)
    scopes: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    created_at: datetime = Field(default_factory=utcnow)
    last_used_at: datetime | None = None
    revoked: bool = False


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
    row = session.get(ApiToken, token_id)
    if row is None:
        raise Refused("unknown_token", f"no API token {token_id}")
    row.revoked = True
    session.add(row)
