"""A site-wide version stamp, bumped in the same transaction as any change.

Rendered config files are cached under this stamp (``phoneservice.configfiles.files``):
one cheap read per request tells whether anything at all changed since the
file was rendered, from this process or any other sharing the database. So a
cached file is never stale, and nothing is cached that a stamp cannot
invalidate.

A second stamp (row 2) moves only when the site settings change, so the
settings can be cached across a busy site's many other writes
(``models.storage.settings.load_settings``).
"""

from __future__ import annotations

from sqlalchemy import bindparam, event, update
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session as OrmSession
from sqlmodel import Session, select

from models.storage.prepared import Prepared
from models.tables.versions import SiteVersion

_BUMPED = "site_version_bumped"
SETTINGS_BUMPED = "settings_version_bumped"
SITE, SETTINGS = 1, 2  # the rows of site_version
SETTINGS_TABLES = {"site_setting"}
# Tables no config file reads: writing them must not invalidate every cache.
UNSTAMPED = {"site_version", "migration_record", "screen_session", "credential_state", "auth_code_throttle", "admin_account",
             "api_token", "migration_task", "task_device", "task_upload", "registration"}


def current_version(session: Session) -> int:
    row = session.exec(select(SiteVersion.version).where(SiteVersion.id == SITE)).first()
    return row or 0


_SITE_STAMP = Prepared(select(SiteVersion.version).where(SiteVersion.id == SITE))


def site_version(db) -> int:
    """The site stamp in a read of its own (``models.storage.database.Database``): a
    warm config file's only database work. ``current_version`` through an ORM read
    session cost 270 µs a call and was 39 % of serve's samples in the TFTP boot storm
    (py-spy; ``bench/tftp_bootstorm.py``, ``docs/benchmarks.md`` "Session 8: the TFTP
    boot storm"); this prepared statement on a Core read connection costs 35 µs."""
    with db.read_connection() as connection:
        return _SITE_STAMP.run(connection).scalar() or 0


_SETTINGS_STAMP = Prepared(select(SiteVersion.version).where(SiteVersion.id == SETTINGS))


def settings_version(connection: Connection) -> int:
    """The settings stamp, read without the ORM (it is read on every settings lookup); 0 before any change."""
    return _SETTINGS_STAMP.run(connection).scalar() or 0


_BUMP = Prepared(update(SiteVersion).where(SiteVersion.id == bindparam("row")).values(version=SiteVersion.version + 1))


def bump(session: OrmSession, row: int = SITE) -> None:
    """Move a stamp once per transaction. The ORM hooks below call it; a write
    made on the session's Core connection (``models.services.migration``) calls it itself."""
    flag = _BUMPED if row == SITE else SETTINGS_BUMPED
    if session.info.get(flag):
        return
    session.info[flag] = True
    result = _BUMP.run(session.connection(), {"row": row})  # on the driver: no ORM evaluation of the UPDATE
    if result.rowcount == 0:
        session.add(SiteVersion(id=row, version=2))


def _changed(session: OrmSession, tables: set[str]) -> None:
    if any(t not in UNSTAMPED for t in tables):
        bump(session)
    if tables & SETTINGS_TABLES:
        bump(session, SETTINGS)


@event.listens_for(OrmSession, "before_flush")
def _before_flush(session: OrmSession, _context, _instances) -> None:
    _changed(session, {getattr(o, "__tablename__", None) for o in (*session.new, *session.dirty, *session.deleted)})


@event.listens_for(OrmSession, "do_orm_execute")
def _on_execute(state) -> None:
    if state.is_update or state.is_delete or state.is_insert:
        _changed(state.session, {getattr(getattr(state.statement, "table", None), "name", None)})


@event.listens_for(OrmSession, "after_commit")
@event.listens_for(OrmSession, "after_rollback")
def _reset(session: OrmSession) -> None:
    session.info.pop(_BUMPED, None)
    session.info.pop(SETTINGS_BUMPED, None)
