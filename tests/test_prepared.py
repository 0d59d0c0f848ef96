"""models.prepared: a statement run on the driver's cursor gives what
``Connection.execute`` gives, in the same transaction, with the same errors."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest
from sqlalchemy import bindparam, insert, select, update
from sqlalchemy.exc import IntegrityError

from models.devices import Device
from models.prepared import Prepared
from models.sessions import ScreenSessionRow

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
    returning = Prepared(insert(_T).values(id=bindparam("id")).returning(_T.c.id))
    with demo_db.read_connection() as c:
        for statement in (expanding, returning):
            with pytest.raises(ValueError, match="not a plain statement"):
                statement.run(c, {"ids": ["a"], "id": "a"})
