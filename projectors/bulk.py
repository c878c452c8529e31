"""Writing many rows at once: executemany for a few, COPY (into a staging table, then one merge) for many."""

from __future__ import annotations

import operator
from collections.abc import Callable, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncConnection

# Below this many rows a prepared executemany wins; above it COPY's one round trip does (bench/rebuild.py).
COPY_THRESHOLD = 64

STAGE = "vsmesh_stage"

Row = dict[str, Any]


async def insert_rows(conn: AsyncConnection, table: sa.Table, columns: tuple[str, ...], rows: Sequence[Row]) -> None:
    """Insert rows that all set the same columns."""
    if len(rows) < COPY_THRESHOLD:
        await conn.execute(table.insert(), list(rows))
        return
    raw = await _driver(conn)
    await raw.copy_records_to_table(
        table.name, records=_records(conn, table, columns, rows), columns=columns, schema_name=_schema(conn)
    )


async def upsert_rows(conn: AsyncConnection, table: sa.Table, columns: tuple[str, ...], rows: Sequence[Row]) -> None:
    """Insert rows, or update the given columns of the rows with the same primary key (keys unique in `rows`)."""
    if len(rows) < COPY_THRESHOLD:
        await conn.execute(upsert_statement(table, columns), list(rows))
        return
    schema = _schema(conn)
    target = f'"{schema}"."{table.name}"' if schema else f'"{table.name}"'
    names = ", ".join(f'"{c}"' for c in columns)
    # CREATE … AS keeps the column types but none of the NOT NULLs: a staged row may set only some columns.
    await conn.execute(
        sa.text(f"CREATE TEMP TABLE {STAGE} ON COMMIT DROP AS SELECT {names} FROM {target} WITH NO DATA")
    )
    raw = await _driver(conn)
    await raw.copy_records_to_table(
        STAGE, records=_records(conn, table, columns, rows), columns=columns, schema_name="pg_temp"
    )
    stage = sa.table(STAGE, *(sa.column(c) for c in columns), schema="pg_temp")
    await conn.execute(upsert_statement(table, columns, source=sa.select(*stage.c)))
    await conn.execute(sa.text(f"DROP TABLE pg_temp.{STAGE}"))


def upsert_statement(table: sa.Table, columns: tuple[str, ...], source: sa.Select | None = None) -> sa.Executable:
    """INSERT … ON CONFLICT (primary key) DO UPDATE the non-key columns; from `source` when given."""
    keys = [c.name for c in table.primary_key.columns]
    stmt = pg_insert(table)
    if source is not None:
        stmt = stmt.from_select(list(columns), source)
    updates = {c: stmt.excluded[c] for c in columns if c not in keys}
    if not updates:
        return stmt.on_conflict_do_nothing(index_elements=keys)
    return stmt.on_conflict_do_update(index_elements=keys, set_=updates)


async def _driver(conn: AsyncConnection) -> Any:
    """The asyncpg connection under SQLAlchemy's, inside the same transaction."""
    return (await conn.get_raw_connection()).driver_connection


def _schema(conn: AsyncConnection) -> str | None:
    """The schema the connection maps the hub's schema-less tables to (see engine.in_schema)."""
    return conn.sync_connection.get_execution_options().get("schema_translate_map", {}).get(None)


def _records(conn: AsyncConnection, table: sa.Table, columns: tuple[str, ...], rows: Sequence[Row]) -> list[tuple]:
    """Rows as tuples of driver values: each column's SQLAlchemy bind processor (e.g. JSONB → text) applied."""
    # Rows of one group set exactly `columns` (changes._group_by_columns), so itemgetter reads them in C;
    # a row missing a column would raise KeyError, so those (and only those) fall back to row.get.
    values = _values_of(columns)
    try:
        tuples = [values(row) for row in rows]
    except KeyError:
        tuples = [tuple(row.get(c) for c in columns) for row in rows]
    procs = [(i, p) for i, p in enumerate(_processor(conn, table.c[c]) for c in columns) if p is not None]
    if not procs:
        return tuples
    out = []
    for t in tuples:
        record = list(t)
        for i, p in procs:
            record[i] = p(record[i])
        out.append(tuple(record))
    return out


def _values_of(columns: tuple[str, ...]) -> Callable[[Row], tuple]:
    if len(columns) == 1:
        name = columns[0]
        return lambda row: (row[name],)
    return operator.itemgetter(*columns)


def _processor(conn: AsyncConnection, column: sa.Column) -> Callable[[Any], Any] | None:
    dialect = conn.dialect
    return column.type.dialect_impl(dialect).bind_processor(dialect)
