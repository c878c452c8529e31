"""Hub statements run by asyncpg itself, compiled once per schema by SQLAlchemy.

`AsyncConnection.execute` costs about 0.3 ms of Python per statement (cache key, greenlet switch, result
proxy), and a live batch runs seven: run here, a batch writes the same rows for about a third of the CPU, and
on 2 cores that CPU is what stretched the live tail (docs/performance.md §Live path). SQLAlchemy Core still
builds every statement with the engine's own dialect (JSON serializer, casts); only the execution skips it.
"""

from __future__ import annotations

import contextlib
import functools
import operator
import re
import weakref
from collections.abc import AsyncIterator, Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import asyncpg
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from vsmesh.projectors.engine import literals

Processor = Callable[[Any], Any]


@dataclass(frozen=True)
class Compiled:
    """A statement as asyncpg runs it: SQL with $n parameters, their names in order and their converters."""

    sql: str
    names: tuple[str, ...]
    processors: tuple[Processor | None, ...]
    values: tuple[Any, ...]  # the statement's own parameter values (e.g. a LIMIT); None where rows give them

    def args(self) -> tuple[Any, ...]:
        """The statement's own values, as the driver takes them."""
        return tuple(p(v) if p is not None else v for p, v in zip(self.processors, self.values, strict=True))

    def records(self, rows: Sequence[dict[str, Any]]) -> list[tuple]:
        """One tuple of driver values per row, in parameter order (a row lacking a parameter gives NULL)."""
        get = _getter(self.names)
        try:
            tuples = list(map(get, rows))  # rows of one group set exactly these names: read in C
        except KeyError:
            tuples = [tuple(row.get(n) for n in self.names) for row in rows]
        convert = [(i, p) for i, p in enumerate(self.processors) if p is not None]
        if not convert or not tuples:
            return tuples
        # Column by column: each converter mapped over its column and the rows zipped back, in C, rather than
        # a list and a tuple made per row in Python (a rebuild's COPY converts tens of thousands of rows).
        columns: list[Iterable[Any]] = list(zip(*tuples, strict=True))
        for i, p in convert:
            columns[i] = map(p, columns[i])
        return list(zip(*columns, strict=True))


def _getter(names: tuple[str, ...]) -> Callable[[dict[str, Any]], tuple]:
    if len(names) == 1:
        (name,) = names
        return lambda row: (row[name],)
    return operator.itemgetter(*names)


# Per statement object, then per schema. Weak keys: a hub that builds its statements anew each batch
# (rather than once) only misses the cache, it does not grow it.
_COMPILED: weakref.WeakKeyDictionary[sa.ClauseElement, dict[tuple, Compiled]] = weakref.WeakKeyDictionary()


def compiled(conn: AsyncConnection, stmt: sa.ClauseElement, columns: Sequence[str] | None = None) -> Compiled:
    """`stmt` compiled for `conn`'s dialect and schema; `columns`: the INSERT's columns (one per parameter)."""
    schema = schema_of(conn)
    key = (schema, tuple(columns) if columns is not None else None)
    by_key = _COMPILED.get(stmt)
    if by_key is None:
        by_key = _COMPILED[stmt] = {}
    found = by_key.get(key)
    if found is None:
        found = by_key[key] = _compile(conn, stmt, schema, columns)
    return found


def _compile(
    conn: AsyncConnection, stmt: sa.ClauseElement, schema: str | None, columns: Sequence[str] | None
) -> Compiled:
    dialect = conn.dialect
    done = stmt.compile(
        dialect=dialect,
        column_keys=list(columns) if columns is not None else None,
        schema_translate_map={None: schema} if schema else None,
        render_schema_translate=bool(schema),
    )
    names = tuple(done.positiontup or ())
    binds = [done.binds[n] for n in names]
    processors = tuple(b.type.dialect_impl(dialect).bind_processor(dialect) for b in binds)
    return Compiled(done.string, names, processors, tuple(None if b.required else b.effective_value for b in binds))


_LITERAL: weakref.WeakKeyDictionary[sa.ClauseElement, dict[str | None, str | None]] = weakref.WeakKeyDictionary()


def literal(stmt: sa.ClauseElement, dialect: sa.Dialect, schema: str | None = None) -> str | None:
    """`stmt` as SQL with its own values written in (for `few_trips`' messages), the hub's schema-less tables in
    `schema`; None when one of its values cannot be written so."""
    by_schema = _LITERAL.get(stmt)
    if by_schema is None:
        by_schema = _LITERAL[stmt] = {}
    if schema not in by_schema:
        try:
            done = stmt.compile(
                dialect=dialect,
                compile_kwargs={"literal_binds": True},
                schema_translate_map={None: schema} if schema else None,
                render_schema_translate=bool(schema),
            )
            by_schema[schema] = str(done)
        except (sa.exc.CompileError, NotImplementedError):
            by_schema[schema] = None
    return by_schema[schema]


def literal_rows(
    conn: AsyncConnection, stmt: sa.ClauseElement, columns: Sequence[str], rows: Sequence[dict[str, Any]]
) -> str | None:
    """An INSERT (or upsert) of `columns`, one VALUES row per row, as literal SQL with the same casts asyncpg's
    parameters get (for `one_trip`); None when a value cannot be written so (projectors/engine/literals.py)."""
    c = compiled(conn, stmt, columns)
    shape = _values_shape(c.sql)
    if shape is None:
        return None
    head, casts, tail = shape
    write = literals.literal
    out = []
    for record in c.records(rows):
        values = []
        for value, cast in zip(record, casts, strict=True):
            written = write(value)
            if written is None:
                return None
            values.append(written + cast)
        out.append("(" + ", ".join(values) + ")")
    return head + ", ".join(out) + tail


_PLACEHOLDER = re.compile(r"\$(\d+)((?:::[A-Z][A-Z ]*)?)(?:, |$)")


@functools.cache
def _values_shape(sql: str) -> tuple[str, tuple[str, ...], str] | None:
    """An INSERT's SQL split around its one VALUES row: (text up to VALUES, each parameter's cast in order, text
    after the row), or None for another shape."""
    start = sql.find(" VALUES (")
    end = sql.find(")", start)
    if start < 0 or end < 0:
        return None
    inner = sql[start + len(" VALUES (") : end]
    found = list(_PLACEHOLDER.finditer(inner))
    in_order = [int(m.group(1)) for m in found] == list(range(1, len(found) + 1))
    if not in_order or "".join(m.group(0) for m in found) != inner:
        return None
    return sql[: start + len(" VALUES ")], tuple(m.group(2) for m in found), sql[end + 1 :]


async def in_schema(conn: AsyncConnection, schema: str) -> AsyncConnection:
    """The connection, with the hub's schema-less tables resolved to `schema`."""
    return await conn.execution_options(schema_translate_map={None: schema})


def schema_of(conn: AsyncConnection) -> str | None:
    """The schema the connection maps the hub's schema-less tables to (see in_schema)."""
    return conn.sync_connection.get_execution_options().get("schema_translate_map", {}).get(None)


async def raw_connection(conn: AsyncConnection) -> asyncpg.Connection:
    """The asyncpg connection under `conn`, inside the transaction `conn` is in.

    SQLAlchemy sends BEGIN only with its first statement; before that, asyncpg would run each of ours in a
    transaction of its own, so a transaction nothing has run in yet is begun here first.
    """
    try:
        # No I/O while the connection is checked out and valid: no greenlet hop (a fifth of a batch's CPU).
        raw = conn.sync_connection.connection.driver_connection
    except sa.exc.MissingGreenlet:  # invalidated: reconnecting needs I/O
        raw = (await conn.get_raw_connection()).driver_connection
    if conn.in_transaction() and not raw.is_in_transaction():
        await conn.execute(sa.select(1))
    return raw


@contextlib.asynccontextmanager
async def transaction(engine: AsyncEngine, schema: str) -> AsyncIterator[AsyncConnection]:
    """A connection mapped to `schema`, in a transaction asyncpg runs (no SQLAlchemy bookkeeping per batch).

    SQLAlchemy does not know this transaction: only this module's statements belong in it (one of its own
    would run in a savepoint). For the same reason a connection that broke is invalidated here.
    """
    async with engine.connect() as conn:
        raw = await raw_connection(conn)
        try:
            with sqlalchemy_errors("BEGIN"):
                async with raw.transaction():
                    yield await in_schema(conn, schema)
                    if conn.in_transaction():
                        raise RuntimeError("a SQLAlchemy statement ran in a driver transaction: use driver.execute")
        except (sa.exc.OperationalError, OSError):
            await conn.invalidate()
            raise


@contextlib.asynccontextmanager
async def few_trips(engine: AsyncEngine, schema: str, begin: str) -> AsyncIterator[tuple[AsyncConnection, list[str]]]:
    """As `transaction`, in two round trips fewer: BEGIN goes with `begin` (literal SQL) in one message, and COMMIT
    with the statements the body leaves in the list it is given (literal SQL) in another.

    PostgreSQL runs the statements of one simple-query message in order and stops at the first that fails. A live
    batch is a handful of round trips to a server on the same 2 cores; each one waits for PostgreSQL to be
    scheduled, and then for this process to be again (docs/performance.md §Live path).
    """
    async with engine.connect() as conn:
        raw = await raw_connection(conn)
        async with _rolled_back_on_failure(conn, raw):
            # Inside: a statement of `begin` that fails leaves the transaction begun, to be rolled back.
            with sqlalchemy_errors(f"BEGIN; {begin}"):
                await raw.execute(f"BEGIN; {begin}")
            at_commit: list[str] = []
            yield await in_schema(conn, schema), at_commit
            if conn.in_transaction():
                raise RuntimeError("a SQLAlchemy statement ran in a driver transaction: use driver.execute")
            sql = "; ".join([*at_commit, "COMMIT"])
            with sqlalchemy_errors(sql):
                await raw.execute(sql)


async def one_trip(
    engine: AsyncEngine, schema: str, build: Callable[[AsyncConnection], list[str] | None], label: str
) -> bool:
    """A whole transaction in one round trip: BEGIN, the statements `build` writes (literal SQL, given a
    connection mapped to `schema`) and COMMIT, in one simple-query message. False, with nothing sent, when
    `build` gives None (a statement it cannot write so). `label` names the transaction in errors (the
    statements hold the rows' values).

    PostgreSQL runs the statements of one message in order and stops at the first that fails; the
    transaction is then rolled back here, as `few_trips` does.
    """
    async with engine.connect() as conn:
        statements = build(await in_schema(conn, schema))
        if statements is None:
            return False
        raw = await raw_connection(conn)
        async with _rolled_back_on_failure(conn, raw):
            with sqlalchemy_errors(label):
                await raw.execute("; ".join(["BEGIN", *statements, "COMMIT"]))
    return True


@contextlib.asynccontextmanager
async def _rolled_back_on_failure(conn: AsyncConnection, raw: asyncpg.Connection) -> AsyncIterator[None]:
    """A transaction sent as literal SQL that fails is rolled back; a connection that broke is not used again."""
    try:
        try:
            yield
        except BaseException:
            await _roll_back(conn, raw)
            raise
    except (sa.exc.OperationalError, OSError):
        await conn.invalidate()
        raise


async def _roll_back(conn: AsyncConnection, raw: asyncpg.Connection) -> None:
    """End a transaction of `few_trips` that failed; a connection that cannot is not used again."""
    try:
        if not raw.is_closed() and raw.is_in_transaction():
            await raw.execute("ROLLBACK")
    except Exception:  # noqa: BLE001 - e.g. cancelled mid-statement: the connection's state is unknown
        await conn.invalidate()


async def execute(conn: AsyncConnection, stmt: sa.ClauseElement, row: dict[str, Any] | None = None) -> None:
    """Run one statement: with its own parameter values, or an INSERT of `row`."""
    if row is None:
        c = compiled(conn, stmt)
        args = c.args()
    else:
        c = compiled(conn, stmt, tuple(row))
        (args,) = c.records([row])
    raw = await raw_connection(conn)
    with sqlalchemy_errors(c.sql):
        await raw.execute(c.sql, *args)


async def execute_many(
    conn: AsyncConnection, stmt: sa.ClauseElement, columns: tuple[str, ...], rows: Sequence[dict[str, Any]]
) -> None:
    """Run an INSERT (or upsert) of `columns` once per row."""
    if not rows:
        return
    c = compiled(conn, stmt, columns)
    raw = await raw_connection(conn)
    with sqlalchemy_errors(c.sql):
        await raw.executemany(c.sql, c.records(rows))


async def fetch(conn: AsyncConnection, stmt: sa.ClauseElement) -> list[asyncpg.Record]:
    """Rows of a query with its own parameter values."""
    c = compiled(conn, stmt)
    raw = await raw_connection(conn)
    with sqlalchemy_errors(c.sql):
        return await raw.fetch(c.sql, *c.args())


async def copy_records(
    conn: AsyncConnection, table: str, records: list[tuple], columns: Sequence[str], schema: str | None
) -> None:
    """COPY records into a table (one round trip for any number of rows)."""
    raw = await raw_connection(conn)
    with sqlalchemy_errors(f"COPY {table}"):
        await raw.copy_records_to_table(table, records=records, columns=list(columns), schema_name=schema)


@contextlib.contextmanager
def sqlalchemy_errors(sql: str) -> Iterator[None]:
    """asyncpg's errors raised as SQLAlchemy's, the one vocabulary the engine's callers handle."""
    try:
        yield
    except asyncpg.IntegrityConstraintViolationError as e:
        raise sa.exc.IntegrityError(sql, None, e) from e
    except asyncpg.DataError as e:
        raise sa.exc.DataError(sql, None, e) from e
    except (asyncpg.PostgresConnectionError, asyncpg.InterfaceError) as e:
        raise sa.exc.OperationalError(sql, None, e) from e
    except asyncpg.PostgresError as e:
        raise sa.exc.DBAPIError(sql, None, e) from e
