"""``Waves``: replacement waves (W-1..W-3), the one use case behind the admin UI, the API, the CLI
and the config files.

``stage`` plans every CSV row with Migrate Phone's preview (C-15) and keeps the
good rows *staged* and the refused ones for an errors CSV. ``apply_on_contact``
is called when a phone with no device asks for its config file: a staged row for
that MAC is claimed (one conditional UPDATE, so of two concurrent fetches one
applies and the other waits for it), re-planned under the old phone's lock and
applied through ``Migrator.migrate`` (door ``wave``, no PIN; C-12), or held when
it now loses more than it did when staged, or failed with the refusal's reason.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Callable

from sqlalchemy import func, or_, update
from sqlmodel import Session, col, select

from models.rules import waves as rules
from models.rules.catalog import Catalog
from models.rules.clock import utcnow
from models.rules.plan import Target
from models.rules.refusals import Refused
from models.rules.tasks_csv import RowError
from models.services.migration import Migrator
from models.storage.database import Database
from models.storage.devices import device_row
from models.tables.records import MigrationRecord
from models.tables.waves import Wave, WaveRow

STALE_CLAIM = timedelta(seconds=60)  # a claim older than this was left by a process that died
WAIT_FOR_OTHER = 15.0  # seconds a fetch waits for a concurrent fetch applying the same row
POLL = 0.05


@dataclass
class RowView:
    row: int
    old_device: str
    new_device: str
    model: str | None
    template: str | None
    description: str | None
    state: str
    reason: str
    summary: list[str]
    record_id: int | None


@dataclass
class WaveView:
    name: str
    created: datetime
    created_by: str
    counts: dict[str, int]
    rows: list[RowView] = field(default_factory=list)
    errors: list[dict] = field(default_factory=list)  # row, column, message, cells

    @property
    def done(self) -> int:
        """Rows that no longer wait for their phone: the progress bar's numerator."""
        return sum(n for state, n in self.counts.items() if state not in ("staged", "applying"))


def _target(row: WaveRow | rules.WaveLine) -> Target:
    return Target(mac=row.new_device[3:], model=row.model, template=row.template, description=row.description)


class Waves:
    """W-1..W-3 for every door: one transaction a method."""

    def __init__(self, db: Database, catalog: Catalog | None = None, migrator: Migrator | None = None,
                 clock: Callable[[], datetime] = utcnow) -> None:
        self.db = db
        self.migrator = migrator or Migrator(db, catalog)
        self.clock = clock

    # --- W-1: staging ---------------------------------------------------------
    def stage(self, name: str, text: str, *, by: str = "") -> WaveView:
        name = rules.check_wave_name(name)
        parsed = rules.parse_wave(text)
        with self.db.read_session() as session:
            if session.exec(select(Wave.id).where(Wave.name == name)).first() is not None:
                raise Refused("wave_exists", f'a wave named "{name}" exists already')
            waiting = set(session.exec(select(WaveRow.new_device).where(
                col(WaveRow.state).in_(("staged", "applying", "held")))).all())
        errors, staged = list(parsed.upload.errors), []
        for line in parsed.lines:
            try:
                if line.new_device in waiting:
                    raise Refused("new_mac_staged", f"{line.new_device} waits in another wave already")
                if not line.model and not line.template:  # keeps the old phone's model (models.rules.waves)
                    with self.db.read_connection() as connection:
                        line = rules.WaveLine(line.row, line.old_device, line.new_device,
                                              device_row(connection, line.old_device).model, None, line.description)
                plan = self.migrator.preview(line.old_device, _target(line))
            except Refused as refusal:
                errors.append(RowError(line.row, "", refusal.message))
                continue
            staged.append(WaveRow(row=line.row, old_device=line.old_device, new_device=line.new_device,
                                  model=line.model, template=line.template, description=line.description,
                                  wave_id=0, summary=plan.summary(), losses=list(plan.losses)))
        kept = [{"row": e.row, "column": e.column, "message": e.message, "cells": dict(parsed.upload.cells[e.row])}
                for e in errors]
        with self.db.session() as session:
            wave = Wave(name=name, created=self.clock(), created_by=by, errors=kept)
            session.add(wave)
            session.flush()
            for row in staged:
                row.wave_id = wave.id
            session.add_all(staged)
        return self.show(name)

    # --- W-3: what a wave shows ------------------------------------------------
    def _wave(self, session: Session, name: str) -> Wave:
        wave = session.exec(select(Wave).where(Wave.name == name)).first()
        if wave is None:
            raise Refused("unknown_wave", f'no wave named "{name}"')
        return wave

    def show(self, name: str) -> WaveView:
        with self.db.read_session() as session:
            wave = self._wave(session, name)
            rows = session.exec(select(WaveRow).where(WaveRow.wave_id == wave.id).order_by(WaveRow.row)).all()
            ids = [r.record_id for r in rows if r.record_id is not None]
            confirmed = set(session.exec(select(MigrationRecord.id).where(
                col(MigrationRecord.id).in_(ids), col(MigrationRecord.confirmed_at).is_not(None))).all()) if ids else set()
            views = [RowView(r.row, r.old_device, r.new_device, r.model, r.template, r.description,
                             rules.row_state(r.state, r.record_id in confirmed), r.reason, list(r.summary), r.record_id)
                     for r in rows]
            return WaveView(wave.name, wave.created, wave.created_by, rules.counts(v.state for v in views), views,
                            list(wave.errors))

    def waves(self) -> list[WaveView]:
        with self.db.read_session() as session:
            names = session.exec(select(Wave.name).order_by(col(Wave.created).desc())).all()
        return [self.show(name) for name in names]

    def cancel(self, name: str, row: int) -> RowView:
        """W-3: a row can be cancelled while it is staged (or held), never once it applied."""
        with self.db.session() as session:
            wave = self._wave(session, name)
            found = None
            if 0 < row <= rules.MAX_ROWS + 1:  # a spreadsheet's row numbers (W-1); past them the id cannot exist
                found = session.exec(select(WaveRow).where(WaveRow.wave_id == wave.id, WaveRow.row == row)).first()
            if found is None:
                raise Refused("unknown_wave_row", f'wave "{name}" has no row {row}')
            done = session.connection().execute(update(WaveRow).where(
                WaveRow.id == found.id, col(WaveRow.state).in_(("staged", "held"))).values(
                state="cancelled", reason="cancelled by an administrator", changed=self.clock())).rowcount
            if done != 1:
                raise Refused("wave_row_not_staged", f"row {row} is {found.state}: only a staged row can be cancelled")
        return next(r for r in self.show(name).rows if r.row == row)

    def report_csv(self, name: str) -> str:
        view = self.show(name)
        return rules.report_csv([r.row, r.old_device, r.new_device, r.model or "", r.template or "", r.state, r.reason,
                                 r.record_id or "", " | ".join(r.summary)] for r in view.rows)

    def errors_csv(self, name: str) -> str:
        view = self.show(name)
        header: list[str] = []
        for error in view.errors:
            header += [h for h in error["cells"] if h not in header]
        return rules.wave_errors_csv(header, {e["row"]: e["cells"] for e in view.errors},
                                     [RowError(e["row"], e["column"], e["message"]) for e in view.errors])

    # --- W-2: the first contact applies the row --------------------------------
    def apply_on_contact(self, device: str) -> bool:
        """True when ``device``'s row applied (now or by a concurrent fetch): its file exists now."""
        row_id = self._claim(device)
        if row_id is None:
            return self._wait_for_other(device)
        with self.db.read_session() as session:
            row = session.get(WaveRow, row_id)
            wave_name = session.get(Wave, row.wave_id).name
            target, staged_losses, old_device = _target(row), list(row.losses), row.old_device

        def still_loses_as_staged(connection, old) -> None:
            more = rules.held_for(staged_losses, self.migrator.plan_on(connection, old, target).losses)
            if more:
                raise Refused("wave_row_held", "the old phone changed since the wave was staged and would now "
                                               "also lose: " + "; ".join(more))

        def applied(session: Session) -> None:
            record = session.exec(select(func.max(MigrationRecord.id)).where(
                MigrationRecord.new_device == device, MigrationRecord.outcome == "migrated")).one()
            session.connection().execute(update(WaveRow).where(WaveRow.id == row_id).values(
                state="applied", reason="", record_id=record, changed=self.clock()))

        try:
            self.migrator.migrate(old_device, target, door="wave", actor=f"wave {wave_name}",
                                  check=still_loses_as_staged, also=applied)
            return True
        except Refused as refusal:
            self._settle(row_id, "held" if refusal.code == "wave_row_held" else "failed", refusal.message)
            return False
        except Exception:
            self._settle(row_id, "staged", "")  # an outage, not a refusal: the next fetch tries again
            raise

    def _claim(self, device: str) -> int | None:
        """The row's id when this fetch took it to apply; None when no row waits (read only: most unknown
        phones are in no wave, and they must not queue for SQLite's write lock) or another fetch took it."""
        now = self.clock()
        claimable = or_(WaveRow.state == "staged",
                        (WaveRow.state == "applying") & (col(WaveRow.claimed_at) < now - STALE_CLAIM))
        with self.db.read_session() as session:
            found = session.exec(select(WaveRow.id).where(WaveRow.new_device == device, claimable)).first()
        if found is None:
            return None
        with self.db.session() as session:
            taken = session.connection().execute(update(WaveRow).where(WaveRow.id == found, claimable).values(
                state="applying", claimed_at=now, changed=now)).rowcount
        return found if taken == 1 else None

    def _wait_for_other(self, device: str) -> bool:
        """A concurrent fetch is applying this MAC's row: wait for it (bounded), so this phone too gets
        its new file. False at once when no row is being applied."""
        deadline, waited = time.monotonic() + WAIT_FOR_OTHER, False
        while True:
            with self.db.read_session() as session:
                states = set(session.exec(select(WaveRow.state).where(WaveRow.new_device == device)).all())
            if "applying" not in states or time.monotonic() > deadline:
                return waited and "applied" in states
            waited = True
            time.sleep(POLL)

    def _settle(self, row_id: int, state: str, reason: str) -> None:
        with self.db.session() as session:
            session.connection().execute(update(WaveRow).where(WaveRow.id == row_id).values(
                state=state, reason=reason, changed=self.clock()))
