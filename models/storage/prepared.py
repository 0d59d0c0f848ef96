"""Hot statements run on the driver's cursor, compiled once by SQLAlchemy.

A phone's replace flow runs about 40 small statements. Through
``Connection.execute`` each costs 50 to 80 µs of Python in the server
(``docs/benchmarks.md``, session 5): cache key, execution context, event
dispatch, result metadata. The SQLite driver runs the same statement in 2 to
16 µs. ``run`` keeps what SQLAlchemy does well, the SQL text and the type
conversions, and drops the rest:

- the statement is compiled by SQLAlchemy for the connection's dialect, once;
- bind values and result columns go through the types' own processors
  (``TypeEngine.bind_processor`` / ``result_processor``), so a JSON column
  reads back as a dict and a SQLite datetime as a ``datetime``, as through
  ``Connection.execute``;
- the cursor is the connection's driver cursor, inside the connection's
  transaction: nothing about transactions changes.

Only for plain statements with named binds: no expanding ``IN`` lists.
``Prepared.insert`` fills the columns' Python-side defaults itself, the one
thing ``Connection.execute`` did for an insert beyond running it.
``run`` refuses a statement it can't compile that way.
Hand-written because SQLAlchemy has no lighter execution path: its own
``exec_driver_sql`` still builds a full execution context (15 µs).
"""

from __future__ import annotations

from collections import namedtuple
from typing import Any, Iterator

from sqlalchemy import Table, bindparam, insert
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError
from sqlalchemy.sql import Executable


class _Compiled:
    """One statement as one dialect runs it."""

    __slots__ = ("sql", "order", "defaults", "required", "binds", "row", "results")

    def __init__(self, statement, dialect) -> None:
        compiled = statement.compile(dialect=dialect)
        sql = compiled.string
        if "POSTCOMPILE" in sql or compiled.escaped_bind_names:
            raise ValueError(f"not a plain statement for models.storage.prepared: {sql}")
        self.sql = sql
        self.order = tuple(compiled.positiontup) if compiled.positional else None
        self.defaults = {name: None if bind.required else bind.effective_value for name, bind in compiled.binds.items()}
        self.required = frozenset(name for name, bind in compiled.binds.items() if bind.required)
        self.binds = {}
        for name, bind in compiled.binds.items():
            process = bind.type.dialect_impl(dialect).bind_processor(dialect)
            if process is not None:
                self.binds[name] = process
        self.row = None
        self.results: tuple = ()
        returning = compiled.effective_returning
        if returning or not (compiled.isinsert or compiled.isupdate or compiled.isdelete):
            columns = list(returning or statement.selected_columns)
            self.row = namedtuple("Row", [c.key for c in columns], rename=True)
            processors = (c.type.dialect_impl(dialect).result_processor(dialect, None) for c in columns)
            self.results = tuple((i, p) for i, p in enumerate(processors) if p is not None)


class Rows:
    """What a statement gave: the rows, or for a write its row count."""

    __slots__ = ("rows", "rowcount")

    def __init__(self, rows: list, rowcount: int) -> None:
        self.rows, self.rowcount = rows, rowcount

    def __iter__(self) -> Iterator:
        return iter(self.rows)

    def all(self) -> list:
        return self.rows

    def first(self):
        return self.rows[0] if self.rows else None

    def one(self):
        if len(self.rows) != 1:
            raise LookupError(f"expected one row, got {len(self.rows)}")
        return self.rows[0]

    def scalar(self):
        return self.rows[0][0] if self.rows else None

    def scalars(self) -> list:
        return [row[0] for row in self.rows]


class Prepared:
    """A module's constant statement: ``run`` on a Core connection, or the
    ``statement`` itself where ``Connection.execute`` is needed."""

    __slots__ = ("statement", "_by_dialect", "_fill")

    def __init__(self, statement: Executable, fill: dict | None = None) -> None:
        self.statement = statement
        self._by_dialect: dict[str, _Compiled] = {}
        self._fill = fill or {}

    @classmethod
    def insert(cls, table: Table, returning=()) -> "Prepared":
        """One row into ``table``: every column but the autoincrement key (as
        SQLAlchemy decides it: a string key or a foreign key is the caller's to
        give) bound by its name; one the caller leaves out gets its Python-side
        default (scalar or argument-less callable, as the models declare them), else NULL."""
        columns = [c for c in table.columns if c is not table.autoincrement_column]
        for column in columns:
            if column.server_default is not None or (column.default is not None and not (
                    column.default.is_scalar or column.default.is_callable)):
                raise ValueError(f"models.storage.prepared can't fill {table.name}.{column.name}'s default")
        # inline(): no implicit RETURNING of the key on PostgreSQL, only what ``returning`` asks for
        statement = insert(table).values({c.name: bindparam(c.name, required=False) for c in columns}).inline()
        return cls(statement.returning(*returning) if returning else statement,
                   {c.name: c.default for c in columns if c.default is not None})

    def _compiled(self, dialect) -> _Compiled:
        compiled = self._by_dialect.get(dialect.name)
        if compiled is None:
            compiled = self._by_dialect[dialect.name] = _Compiled(self.statement, dialect)
        return compiled

    def _args(self, compiled: _Compiled, params: dict[str, Any]):
        if not compiled.required <= params.keys():
            raise KeyError(f"a value is required for {sorted(compiled.required - params.keys())}")
        values = dict(compiled.defaults)
        for name, default in self._fill.items():
            if name not in params:  # SQLAlchemy wraps an argument-less default to take its context
                values[name] = default.arg(None) if default.is_callable else default.arg
        values.update(params)
        for name, process in compiled.binds.items():
            if values[name] is not None or name in params:  # a column left out stays SQL NULL (not JSON null)
                values[name] = process(values[name])
        return [values[n] for n in compiled.order] if compiled.order is not None else values

    def run(self, connection: Connection, params: dict[str, Any] | None = None) -> Rows:
        compiled = self._compiled(connection.dialect)
        return self._execute(connection, compiled, self._args(compiled, params or {}), many=False)

    def run_many(self, connection: Connection, rows: list[dict[str, Any]]) -> Rows:
        """One statement, several rows of values (the driver's ``executemany``); no rows come back."""
        compiled = self._compiled(connection.dialect)
        if compiled.row is not None:
            raise ValueError("run_many is for writes that return nothing")
        return self._execute(connection, compiled, [self._args(compiled, row) for row in rows], many=True)

    def _execute(self, connection: Connection, compiled: _Compiled, args, many: bool) -> Rows:
        dialect = connection.dialect
        if not connection.in_transaction():
            connection.begin()  # as Connection.execute would: SQLite's BEGIN, the connection's transaction
        cursor = connection.connection.driver_connection.cursor()
        try:
            if many:
                cursor.executemany(compiled.sql, args)
            else:
                cursor.execute(compiled.sql, args)
            if compiled.row is None:
                return Rows([], cursor.rowcount)
            raw = cursor.fetchall()
        except dialect.loaded_dbapi.Error as exc:  # as Connection.execute raises it: "database is locked" handlers apply
            raise DBAPIError.instance(compiled.sql, args, exc, dialect.loaded_dbapi.Error, dialect=dialect) from exc
        finally:
            cursor.close()
        make = compiled.row._make
        if not compiled.results:
            return Rows([make(r) for r in raw], len(raw))
        rows = []
        for r in raw:
            r = list(r)
            for i, process in compiled.results:
                r[i] = process(r[i])
            rows.append(make(r))
        return Rows(rows, len(rows))
