"""What every repository shares: the dialect-specific INSERT, the batch size, many rows in one statement."""

from __future__ import annotations

import operator
import sqlite3
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from sqlalchemy import exc
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

BATCH = 500
"""Rows written per statement in bulk inserts."""
_SQLITE_ROWS = 64
"""Rows per multi-row VALUES on SQLite (its statements may bind 32,766 values)."""


def insert(engine: AsyncEngine, table: Any) -> Any:
    """A dialect-specific INSERT that supports ON CONFLICT."""
    if engine.dialect.name == "postgresql":
        return postgresql.insert(table)
    return sqlite.insert(table)


class ManyRows:
    """An INSERT of many rows in one statement, built once (by a repository) and run in the caller's
    transaction; each row a mapping of every column the table is given (all but an autoincrement key).

    On PostgreSQL this is SQLAlchemy's executemany. On SQLite, aiosqlite runs each call in its own thread, and
    SQLAlchemy makes four such calls a statement (cursor, execute, fetch, close), each waiting for a turn of a
    busy event loop: under a burst of webhooks those turns were most of a batch's time, and the per-row
    executemany machinery most of its CPU (``python -m benchmarks.attendance``). So there the statement is
    compiled by SQLAlchemy once, its row of VALUES repeated for as many rows as come, their values bound by
    the columns' own types, and sent as one statement through the driver: one turn of the thread for up to
    ``_SQLITE_ROWS`` rows.
    """

    def __init__(self, statement: Any) -> None:
        self.statement = statement
        self._returns = bool(statement._returning)
        self._columns = [c for c in statement.table.columns if not (c.primary_key and c.autoincrement is not False)]
        self._one: tuple[tuple[str, str, str], list[tuple[str, _Binder | None]]] | None = None
        """The statement's SQL around its one row of VALUES, and each value's column and binder, in order."""
        self._sqlite: dict[int, str] = {}

    async def __call__(self, conn: AsyncConnection, rows: Sequence[Mapping[str, Any]]) -> list[Any]:
        """Insert the rows; those the RETURNING clause gives, if the statement has one."""
        if not rows:
            return []
        if conn.dialect.name != "sqlite":
            result = await conn.execute(self.statement, list(rows))
            return list(result) if self._returns else []
        driver = (await conn.get_raw_connection()).driver_connection
        assert driver is not None
        out: list[Any] = []
        for sql, values in self.sqlite(conn.dialect, rows):
            try:
                out.extend(await driver.execute_fetchall(sql, values))
            except sqlite3.Error as error:
                raise sqlite_error(sql, values, error) from error
        return out

    def sqlite(self, dialect: Any, rows: Sequence[Mapping[str, Any]]) -> list[tuple[str, list[Any]]]:
        """The SQLite statements that insert the rows (up to ``_SQLITE_ROWS`` each) and their bound values, for
        a caller that runs them itself."""
        out = []
        for start in range(0, len(rows), _SQLITE_ROWS):
            chunk = rows[start : start + _SQLITE_ROWS]
            sql, order = self._compiled(dialect, len(chunk))
            out.append((sql, _bound(chunk, order)))
        return out

    def _compiled(self, dialect: Any, count: int) -> tuple[str, list[tuple[str, _Binder | None]]]:
        """The SQL with ``count`` rows of VALUES; for each of its parameters in order, the column it takes
        and how that column's type binds a value (as SQLAlchemy would)."""
        if self._one is None:
            compiled = self.statement.values({c.key: None for c in self._columns}).compile(dialect=dialect)
            names = {c.key: c for c in self._columns}
            order = []
            for name in compiled.positiontup or ():
                column = names[name]
                order.append((column.key, column.type.dialect_impl(dialect).bind_processor(dialect)))
            group = "(" + ", ".join("?" * len(order)) + ")"
            before, values, after = compiled.string.partition(f"VALUES {group}")
            if not values or group in after:  # a statement this does not know how to repeat the VALUES of
                raise ValueError(f"cannot insert many rows with {compiled.string}")
            self._one = (before, group, after), order
        (before, group, after), order = self._one
        sql = self._sqlite.get(count)
        if sql is None:  # compiling each row count would cost more than a burst's writes
            self._sqlite[count] = sql = f"{before}VALUES {', '.join([group] * count)}{after}"
        return sql, order


_Binder = Callable[[Any], Any]


def sqlite_error(sql: str, values: Any, error: sqlite3.Error) -> exc.StatementError:
    """A driver's error as SQLAlchemy raises it, for the callers that tell errors apart."""
    return exc.DBAPIError.instance(sql, values, error, sqlite3.Error)


def _bound(rows: Sequence[Mapping[str, Any]], order: Sequence[tuple[str, _Binder | None]]) -> list[Any]:
    """The rows' values in the statement's order, each bound by its column's type: only the columns that have
    a bind processor call it (most are strings), and a value the row before had in the same column (a batch's
    one ``recorded_at``) is bound once: binding every value cost more than the rest of a batch's write
    (``python -m benchmarks.attendance``)."""
    names = [name for name, _ in order]
    pick = operator.itemgetter(*names)
    take: Callable[[Mapping[str, Any]], list[Any]] = (
        (lambda row: list(pick(row))) if len(names) > 1 else (lambda row: [pick(row)])
    )  # itemgetter of one name gives the value, not a tuple of it
    binders = [(i, bind) for i, (_, bind) in enumerate(order) if bind is not None]
    last: dict[int, tuple[Any, Any]] = {}
    out: list[Any] = []
    for row in rows:
        values = take(row)
        for i, bind in binders:
            value = values[i]
            before = last.get(i)
            if before is not None and before[0] is value:
                values[i] = before[1]
            else:
                values[i] = bound = bind(value)
                last[i] = (value, bound)
        out.extend(values)
    return out
