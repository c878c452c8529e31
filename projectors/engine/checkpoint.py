"""Positions: the last stream sequence a hub applied, written in the same transaction as its rows."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from vsmesh.projectors.engine import driver
from vsmesh.projectors.engine.bulk import upsert_statement

POSITIONS_TABLE = "vsmesh_positions"


def positions_table(metadata: sa.MetaData) -> sa.Table:
    """The positions table inside a hub's metadata (created once, shared by every Projection of the hub)."""
    if POSITIONS_TABLE in metadata.tables:
        return metadata.tables[POSITIONS_TABLE]
    return sa.Table(
        POSITIONS_TABLE,
        metadata,
        sa.Column("stream", sa.Text, primary_key=True),
        sa.Column("position", sa.BigInteger, nullable=False),
    )


async def read_positions(conn: AsyncConnection, table: sa.Table) -> dict[str, int]:
    rows = await conn.execute(sa.select(table.c.stream, table.c.position))
    return {stream: position for stream, position in rows}


async def save_position(conn: AsyncConnection, table: sa.Table, stream: str, position: int) -> None:
    row = {"position": position, "stream": stream}
    await driver.execute(conn, upsert_statement(table, ("position", "stream")), row)


def position_sql(schema: str, table: sa.Table, stream: str, position: int) -> str:
    """`save_position` as literal SQL, to go with a live batch's COMMIT (driver.few_trips)."""
    return position_upsert(schema, table, stream, str(int(position)))


def position_upsert(schema: str, table: sa.Table, stream: str, value: str) -> str:
    """The upsert of `stream`'s position to `value`, an SQL expression (a function's parameter, a literal)."""
    name = stream.replace("'", "''")
    return (
        f'INSERT INTO "{schema}"."{table.name}" (stream, position) VALUES (\'{name}\', {value}) '
        "ON CONFLICT (stream) DO UPDATE SET position = excluded.position"
    )
