"""models.storage.prepared: a statement run on the driver's cursor gives what
``Connection.execute`` gives, in the same transaction, with the same errors."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest
from sqlalchemy import JSON, Column, ForeignKey, Integer, MetaData, String, Table, bindparam, insert, select, update
from sqlalchemy.exc import IntegrityError

from models.storage.prepared import Prepared
from models.tables.devices import Device
from models.tables.lines import LineAppearance
from models.tables.sessions import ScreenSessionRow

_T = ScreenSessionRow.__table__
ROW = Prepared(select(_T.c.id, _T.c.state, _T.c.touched_at).where(_T.c.id == bindparam("id")))
ADD = Prepared(insert(_T).values(id=bindparam("id"), device=bindparam("device"), state=bindparam("state"),
                                 touched_at=bindparam("at")))
TOUCH = Prepared(update(_T).where(_T.c.device == bindparam("device")).values(touched_at=bindparam("at")))
BY_FLAGS = Prepared(select(Device.name, Device.auto_registered).where(Device.auto_registered == True)  # noqa: E712
                    .order_by(Device.name).limit(2))
WHEN = datetime(2026, 11, 21, 16, 0, 0, 123456, tzinfo=timezone.utc)


def test_rows_match_connection_execute_types_included(demo_db):
    state = {"attempt": {"door": "screen", "pin": None}, "chosen": ["SEP001122330033"], "ended": False}
    with demo_db.write_connection() as c:
        assert ADD.run(c, {"id": "s1", "device": "SEP00AA11BB22CC", "state": state, "at": WHEN}).rowcount == 1
    with demo_db.read_connection() as c:
        mine = ROW.run(c, {"id": "s1"}).one()
        theirs = c.execute(ROW.statement, {"id": "s1"}).one()
        assert tuple(mine) == tuple(theirs)
        assert mine.state == state and isinstance(mine.state, dict)  # JSON read back as JSON
        assert mine.touched_at == WHEN  # an aware datetime, on SQLite too (the column type's own processor)
        flags = BY_FLAGS.run(c)  # a Boolean bind and column, a literal LIMIT
        assert [tuple(r) for r in flags] == [tuple(r) for r in c.execute(BY_FLAGS.statement)]
        assert flags.all() and all(r.auto_registered is True for r in flags)
        assert ROW.run(c, {"id": "nobody"}).first() is None and ROW.run(c, {"id": "nobody"}).scalar() is None


def test_writes_belong_to_the_connections_transaction(demo_db):
    with demo_db.write_connection() as c:
        ADD.run(c, {"id": "s2", "device": "SEP00AA11BB22CC", "state": {}, "at": WHEN})
    with pytest.raises(RuntimeError):
        with demo_db.write_connection() as c:
            assert TOUCH.run(c, {"device": "SEP00AA11BB22CC", "at": datetime.now(timezone.utc)}).rowcount == 1
            raise RuntimeError("rolled back")
    with demo_db.read_connection() as c:
        assert ROW.run(c, {"id": "s2"}).one().touched_at == WHEN


def test_driver_errors_arrive_as_sqlalchemys(demo_db):
    with demo_db.write_connection() as c:
        ADD.run(c, {"id": "s3", "device": "SEP00AA11BB22CC", "state": {}, "at": WHEN})
    with pytest.raises(IntegrityError):  # what every door's refusal handling catches
        with demo_db.write_connection() as c:
            ADD.run(c, {"id": "s3", "device": "SEP00AA11BB22CC", "state": {}, "at": WHEN})


def test_a_missing_value_is_an_error_not_a_null(demo_db):
    with demo_db.read_connection() as c, pytest.raises(KeyError, match="id"):
        ROW.run(c, {})


def test_statements_it_cant_run_plainly_are_refused(demo_db):
    expanding = Prepared(select(_T.c.id).where(_T.c.id.in_(bindparam("ids", expanding=True))))
    with demo_db.read_connection() as c, pytest.raises(ValueError, match="not a plain statement"):
        expanding.run(c, {"ids": ["a"]})
    odd = Table("odd", MetaData(), Column("id", Integer, primary_key=True), Column("at", String, server_default="x"))
    with pytest.raises(ValueError, match="can't fill odd.at"):
        Prepared.insert(odd)


INSERT_DEVICE = Prepared.insert(Device.__table__, returning=[Device.__table__.c.id])
INSERT_LINES = Prepared.insert(LineAppearance.__table__)


def test_an_insert_fills_the_columns_defaults_and_returns_what_it_is_asked(demo_db):
    before = datetime.now(timezone.utc)
    with demo_db.write_connection() as c:
        new_id = INSERT_DEVICE.run(c, {"name": "SEP00AA11BB9999", "model": "8851", "product_params": {}}).one().id
        dn = c.exec_driver_sql("SELECT id FROM directory_number ORDER BY id").scalar()
        lines = [{"device_id": new_id, "dn_id": dn, "position": p, "settings": {}} for p in (1, 2)]
        assert INSERT_LINES.run_many(c, lines).rowcount in (2, -1)  # -1: a driver that doesn't count executemany
    with demo_db.read_connection() as c:
        row = c.execute(select(Device.__table__).where(Device.__table__.c.id == new_id)).one()
        assert (row.protocol, row.device_pool, row.migrated) == ("SIP", "Default", False)  # scalar defaults
        assert len(row.uid) == 32 and before <= row.created_at.replace(tzinfo=timezone.utc)  # callable defaults
        assert c.exec_driver_sql(f"SELECT load_override IS NULL FROM device WHERE id = {new_id}").scalar()
        labels = c.exec_driver_sql(f"SELECT position, label FROM line_appearance WHERE device_id = {new_id} ORDER BY 1").all()
        assert [tuple(r) for r in labels] == [(1, ""), (2, "")]


def test_a_json_column_left_out_is_sql_null_and_a_given_none_is_json_null(demo_db):
    """As ``Connection.execute`` does: a column it isn't given is not in its INSERT at all."""
    notes = Table("prepared_notes", MetaData(), Column("id", Integer, primary_key=True), Column("body", JSON, nullable=True))
    notes.create(demo_db.engine)
    add = Prepared.insert(notes)
    with demo_db.write_connection() as c:
        add.run(c, {"id": 1})
        add.run(c, {"id": 2, "body": None})
        c.execute(insert(notes), {"id": 3})
    with demo_db.read_connection() as c:
        nulls = [tuple(r) for r in c.exec_driver_sql("SELECT id, body IS NULL FROM prepared_notes ORDER BY id")]
    assert nulls == [(1, True), (2, False), (3, True)]


def test_an_insert_binds_a_key_that_is_not_autoincrement(demo_db):
    """A string key (screen sessions) or an integer key that is also a foreign key is the caller's to give."""
    parent = Table("prepared_parent", MetaData(), Column("id", Integer, primary_key=True))
    meta = parent.metadata
    child = Table("prepared_child", meta,
                  Column("parent_id", Integer, ForeignKey("prepared_parent.id"), primary_key=True),
                  Column("note", String(8), nullable=False))
    meta.create_all(demo_db.engine)
    assert Prepared.insert(parent).statement.compile().params.keys() == set()  # the autoincrement key is left out
    with demo_db.write_connection() as c:
        c.execute(insert(parent), [{"id": 7}])
        Prepared.insert(child).run(c, {"parent_id": 7, "note": "x"})
        Prepared.insert(ScreenSessionRow.__table__).run(c, {"id": "abc", "device": "SEP00AA11BB9999", "state": {}})
    with demo_db.read_connection() as c:
        assert [tuple(r) for r in c.exec_driver_sql("SELECT parent_id, note FROM prepared_child")] == [(7, "x")]
        assert c.exec_driver_sql("SELECT device FROM screen_session WHERE id = 'abc'").scalar() == "SEP00AA11BB9999"
