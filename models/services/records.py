"""``Records``: the migration records and report (C-13, R-6) as the doors see them,
one read scope a method.

Each method opens its own read scope (``Database.read_session``) and answers
with ``MigrationRecordPublic`` values or the report's CSV text; the queries
are ``models.services.reports`` and ``models.services.devices.record_search``.
"""

from __future__ import annotations

from dataclasses import dataclass

from models.rules.record_filter import RecordFilter
from models.services import devices, reports
from models.storage.database import Database
from models.tables.records import MigrationRecordPublic

OLD_PHONES_SHOWN = 1000  # the report page's "Migrate (old phone)" list


@dataclass
class Report:
    """The report page: old phones kept and marked migrated (C-13's filter) and the records."""

    old_phones: list[reports.DeviceRow]
    records: list[MigrationRecordPublic]


class Records:
    """The migration records: one read scope a method, public values out."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def search_page(self, *, outcome: str | None = None, limit: int, offset: int,
                    where: RecordFilter | None = None) -> tuple[list[MigrationRecordPublic], int]:
        """A page of the records, newest first, and how many in all (``where``: C-13's filter)."""
        with self.db.read_session() as session:
            return devices.record_search(session, outcome=outcome, limit=limit, offset=offset, where=where)

    def recent(self, limit: int = 10) -> list[MigrationRecordPublic]:
        with self.db.read_session() as session:
            return reports.records(session, limit=limit)

    def get(self, record_id: int) -> MigrationRecordPublic | None:
        with self.db.read_session() as session:
            return reports.migration_record(session, record_id)

    def report(self, outcome: str | None = None, limit: int = 1000, where: RecordFilter | None = None) -> Report:
        """The report page's two lists, read in one scope."""
        with self.db.read_session() as session:
            return Report(reports.search_devices(session, migrated=True, limit=OLD_PHONES_SHOWN),
                          reports.records(session, outcome=outcome, limit=limit, where=where))

    def csv(self, outcome: str | None = None, limit: int | None = None, where: RecordFilter | None = None) -> str:
        """The migration report as CSV, newest first (``limit`` None: every record)."""
        with self.db.read_session() as session:
            return reports.report_csv(reports.records(session, outcome=outcome, limit=limit, where=where))
