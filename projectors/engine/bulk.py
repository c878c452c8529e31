"""Writing many rows at once: executemany for a few, COPY (into a staging table, then one merge) for many."""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncConnection

from vsmesh.projectors.engine import driver

# Below this many rows a prepared executemany wins; above it COPY's one round trip does (bench/rebuild.py).
COPY_THRESHOLD = 64

STAGE = "vsmesh_stage"

Row = dict[str, Any]


async def insert_rows(conn: AsyncConnection, table: sa.Table, columns: tuple[str, ...], rows: Sequence[Row]) -> None:
    """Insert rows that all set the same columns."""
    if len(rows) < COPY_THRESHOLD:
        await driver.execute_many(conn, _insert(table), columns, rows)
        return
    await _copy(conn, table, columns, rows, table.name, driver.schema_of(conn))


async def upsert_rows(conn: AsyncConnection, table: sa.Table, columns: tuple[str, ...], rows: Sequence[Row]) -> None:
    """Insert rows, or update the given columns of the rows with the same primary key (keys unique in `rows`)."""
    if len(rows) < COPY_THRESHOLD:
        await driver.execute_many(conn, upsert_statement(table, columns), columns, rows)
        return
    create, merge, drop = _merge_statements(table, columns, driver.schema_of(conn))
    await driver.execute(conn, create)
    await _copy(conn, table, columns, rows, STAGE, "pg_temp")
    await driver.execute(conn, merge)
    await driver.execute(conn, drop)


def literal_inserts(
    conn: AsyncConnection, table: sa.Table, columns: tuple[str, ...], rows: Sequence[Row]
) -> str | None:
    """`insert_rows` as one literal statement, or None (too many rows for one, or a value not written so)."""
    return driver.literal_rows(conn, _insert(table), columns, rows) if len(rows) < COPY_THRESHOLD else None


def literal_upserts(
    conn: AsyncConnection, table: sa.Table, columns: tuple[str, ...], rows: Sequence[Row]
) -> str | None:
    """`upsert_rows` as one literal statement (keys unique in `rows`, so one row is never updated twice), or None."""
    if len(rows) >= COPY_THRESHOLD:
        return None
    return driver.literal_rows(conn, upsert_statement(table, columns), columns, rows)


@functools.cache
def _merge_statements(
    table: sa.Table, columns: tuple[str, ...], schema: str | None
) -> tuple[sa.TextClause, sa.Executable, sa.TextClause]:
    """The statements around an upsert's COPY: make the staging table, merge it into `table`, drop it. One set
    per table, columns and schema, so the driver compiles them once (projectors/engine/driver.py), not once
    per batch (a rebuild writes a few big batches, and compiling was a tenth of its writing)."""
    target = f'"{schema}"."{table.name}"' if schema else f'"{table.name}"'
    names = ", ".join(f'"{c}"' for c in columns)
    # CREATE … AS keeps the column types but none of the NOT NULLs: a staged row may set only some columns.
    create = sa.text(f"CREATE TEMP TABLE {STAGE} ON COMMIT DROP AS SELECT {names} FROM {target} WITH NO DATA")
    stage = sa.table(STAGE, *(sa.column(c) for c in columns), schema="pg_temp")
    merge = _upsert(table, columns, source=sa.select(*stage.c))
    return create, merge, sa.text(f"DROP TABLE pg_temp.{STAGE}")


async def _copy(
    conn: AsyncConnection, table: sa.Table, columns: tuple[str, ...], rows: Sequence[Row], into: str, schema: str | None
) -> None:
    """COPY rows of `table` into `into` (the table itself, or its staging copy), converted as an INSERT would."""
    c = driver.compiled(conn, _insert(table), columns)
    await driver.copy_records(conn, into, c.records(rows), c.names, schema)


@functools.cache
def _insert(table: sa.Table) -> sa.Insert:
    # One statement object per table: the driver compiles it once per schema and set of columns.
    return table.insert()


@functools.cache
def upsert_statement(table: sa.Table, columns: tuple[str, ...]) -> sa.Executable:
    """INSERT … ON CONFLICT (primary key) DO UPDATE the non-key columns (one statement object per columns)."""
    return _upsert(table, columns)


def _upsert(table: sa.Table, columns: tuple[str, ...], source: sa.Select | None = None) -> sa.Executable:
    keys = [c.name for c in table.primary_key.columns]
    stmt = pg_insert(table)
    if source is not None:
        stmt = stmt.from_select(list(columns), source)
    updates = {c: stmt.excluded[c] for c in columns if c not in keys}
    if not updates:
        return stmt.on_conflict_do_nothing(index_elements=keys)
    return stmt.on_conflict_do_update(index_elements=keys, set_=updates)
