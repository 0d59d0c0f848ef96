"""A site-wide version stamp, bumped in the same transaction as any change.

Rendered config files are cached under this stamp (``phoneservice.files``):
one cheap read per request tells whether anything at all changed since the
file was rendered, from this process or any other sharing the database. So a
cached file is never stale, and nothing is cached that a stamp cannot
invalidate.
"""

from __future__ import annotations

from sqlalchemy import event, update
from sqlalchemy.orm import Session as OrmSession
from sqlmodel import Field, Session, SQLModel, select

_BUMPED = "site_version_bumped"
# Tables no config file reads: writing them must not invalidate every cache.
UNSTAMPED = {"site_version", "migration_record", "credential_state", "auth_code_throttle", "admin_account", "api_token"}


class SiteVersion(SQLModel, table=True):
    __tablename__ = "site_version"
    id: int = Field(default=1, primary_key=True)
    version: int = 1


def current_version(session: Session) -> int:
    row = session.exec(select(SiteVersion.version).where(SiteVersion.id == 1)).first()
    return row or 0


def _bump(session: OrmSession) -> None:
    if session.info.get(_BUMPED):
        return
    session.info[_BUMPED] = True
    result = session.execute(update(SiteVersion).where(SiteVersion.id == 1).values(version=SiteVersion.version + 1))
    if result.rowcount == 0:
        session.add(SiteVersion(id=1, version=2))


@event.listens_for(OrmSession, "before_flush")
def _before_flush(session: OrmSession, _context, _instances) -> None:
    changed = (o for o in (*session.new, *session.dirty, *session.deleted))
    if any(getattr(o, "__tablename__", None) not in UNSTAMPED for o in changed):
        _bump(session)


@event.listens_for(OrmSession, "do_orm_execute")
def _on_execute(state) -> None:
    if state.is_update or state.is_delete or state.is_insert:
        table = getattr(state.statement, "table", None)
        if getattr(table, "name", None) not in UNSTAMPED:
            _bump(state.session)


@event.listens_for(OrmSession, "after_commit")
@event.listens_for(OrmSession, "after_rollback")
def _reset(session: OrmSession) -> None:
    session.info.pop(_BUMPED, None)
