"""E-1..E-3: the administrators and API tokens as every door manages them.

One function a use case, taking the caller's session; ``Administration`` is
the web doors' way in (one transaction a method) and the CLI composes the
functions in its own transaction. Never returns a password hash or a token's
digest; a new token is shown once, by ``create``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlmodel import Session, col, func, select

from models.rules import auth
from models.rules.refusals import Refused
from models.services.admins import (
    _admin_throttle_key,
    _passwords,
    create_admin,
    create_token,
    revoke_token,
)
from models.storage.database import Database
from models.tables.admins import AdminAccount, ApiToken
from models.tables.users import AuthCodeThrottle

ROLES = ("full", "read_only")  # E-2


@dataclass(frozen=True)
class AdminView:
    username: str
    role: str
    created_at: datetime
    locked: bool  # blocked after five failed logins, until unlocked or the block ends


@dataclass(frozen=True)
class TokenView:
    id: int
    name: str
    scopes: list[str]
    created_at: datetime
    last_used_at: datetime | None
    revoked: bool


def _account(session: Session, username: str) -> AdminAccount:
    row = session.exec(select(AdminAccount).where(AdminAccount.username == username)).first()
    if row is None or row.disabled:
        raise Refused("unknown_admin", f'no administrator "{username}"')
    return row


def _check_role(role: str) -> str:
    if role not in ROLES:
        raise Refused("bad_role", f"a role is one of {', '.join(ROLES)}")
    return role


def _view(session: Session, row: AdminAccount, now: datetime) -> AdminView:
    throttle = session.get(AuthCodeThrottle, _admin_throttle_key(row.username))
    return AdminView(row.username, row.role, row.created_at, auth.code_blocked(throttle, now))


def list_admins(session: Session, now: datetime) -> list[AdminView]:
    rows = session.exec(select(AdminAccount).where(col(AdminAccount.disabled).is_(False))
                        .order_by(col(AdminAccount.username)))
    return [_view(session, row, now) for row in rows]


def add_admin(session: Session, username: str, password: str, role: str = "full") -> AdminAccount:
    account = create_admin(session, username, password)
    account.role = _check_role(role)
    session.add(account)
    return account


def _full_admins_besides(session: Session, account: AdminAccount) -> int:
    return session.exec(select(func.count()).select_from(AdminAccount).where(
        AdminAccount.role == "full", col(AdminAccount.disabled).is_(False), AdminAccount.id != account.id)).one()


def remove_admin(session: Session, username: str, acting: str | None = None) -> None:
    """E-1: not oneself (from a web door), and never the last full administrator."""
    account = _account(session, username)
    if acting is not None and acting == username:
        raise Refused("admin_is_you", "you can't remove your own account; ask another administrator")
    if account.role == "full" and not _full_admins_besides(session, account):
        raise Refused("last_full_admin", f'"{username}" is the last administrator with full rights; '
                      "give another administrator full rights first")
    throttle = session.get(AuthCodeThrottle, _admin_throttle_key(username))
    if throttle is not None:
        session.delete(throttle)
    session.delete(account)


def set_role(session: Session, username: str, role: str, acting: str | None = None) -> AdminView:
    """E-2: full or read_only; the last full administrator keeps full rights."""
    account = _account(session, username)
    _check_role(role)
    if role != "full" and account.role == "full" and not _full_admins_besides(session, account):
        raise Refused("last_full_admin", f'"{username}" is the last administrator with full rights; '
                      "give another administrator full rights first")
    account.role = role
    session.add(account)
    return AdminView(account.username, account.role, account.created_at, False)


def reset_password(session: Session, username: str, password: str) -> None:
    """E-1: a new password (the same policy as a new account); the login block is cleared too."""
    account = _account(session, username)
    if len(password) < 10:
        raise Refused("weak_password", "an administrator password has at least 10 characters")
    account.password_hash = _passwords.hash(password)
    session.add(account)
    unlock_admin(session, username)


def unlock_admin(session: Session, username: str) -> None:
    """E-1, A-4: clears the failed-login count and block of this user name."""
    _account(session, username)
    throttle = session.get(AuthCodeThrottle, _admin_throttle_key(username))
    if throttle is not None:
        session.delete(throttle)


def list_tokens(session: Session) -> list[TokenView]:
    return [TokenView(r.id, r.name, list(r.scopes), r.created_at, r.last_used_at, r.revoked)
            for r in session.exec(select(ApiToken).order_by(col(ApiToken.id)))]


def new_token(session: Session, name: str, scopes: list[str]) -> tuple[str, TokenView]:
    """E-3: a token, shown once; a name of 1 to 64 characters."""
    name = (name or "").strip()
    if not name or len(name) > 64:
        raise Refused("bad_token_name", "a token's name is 1 to 64 characters")
    token, row = create_token(session, name, scopes)
    return token, TokenView(row.id, row.name, list(row.scopes), row.created_at, row.last_used_at, row.revoked)


class Administration:
    """E-1..E-3 for the admin UI and the API: one transaction a method."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def accounts(self, now: datetime) -> list[AdminView]:
        with self.db.read_session() as session:
            return list_admins(session, now)

    def add(self, username: str, password: str, role: str, now: datetime) -> AdminView:
        with self.db.session() as session:
            return _view(session, add_admin(session, username, password, role), now)

    def remove(self, username: str, acting: str | None = None) -> None:
        with self.db.session() as session:
            remove_admin(session, username, acting)

    def set_role(self, username: str, role: str) -> AdminView:
        with self.db.session() as session:
            return set_role(session, username, role)

    def reset_password(self, username: str, password: str) -> None:
        with self.db.session() as session:
            reset_password(session, username, password)

    def unlock(self, username: str) -> None:
        with self.db.session() as session:
            unlock_admin(session, username)

    def tokens(self) -> list[TokenView]:
        with self.db.read_session() as session:
            return list_tokens(session)

    def create_token(self, name: str, scopes: list[str]) -> tuple[str, TokenView]:
        with self.db.session() as session:
            return new_token(session, name, scopes)

    def revoke_token(self, token_id: int) -> None:
        with self.db.session() as session:
            revoke_token(session, token_id)
