"""A batch's changes, folded in memory before they reach PostgreSQL.

Handlers record upserts and inserts here; many events touching one row become one write.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncConnection


class Changes:
    """Row changes of one batch, keyed so that later events in the batch win."""

    def __init__(self) -> None:
        self._upserts: dict[sa.Table, dict[tuple, dict[str, Any]]] = defaultdict(dict)
        self._inserts: dict[sa.Table, list[dict[str, Any]]] = defaultdict(list)

    def upsert(self, table: sa.Table, row: dict[str, Any]) -> None:
        """Insert the row, or update the given columns of the row with the same primary key."""
        key = tuple(row[c.name] for c in table.primary_key.columns)
        pending = self._upserts[table]
        if key in pending:
            pending[key].update(row)
        else:
            pending[key] = dict(row)

    def insert(self, table: sa.Table, row: dict[str, Any]) -> None:
        self._inserts[table].append(row)

    def __len__(self) -> int:
        return sum(map(len, self._upserts.values())) + sum(map(len, self._inserts.values()))

    async def flush(self, conn: AsyncConnection) -> None:
        """Write every change; rows with the same set of columns go in one statement."""
        for table, rows in self._inserts.items():
            if rows:
                await conn.execute(table.insert(), rows)
        for table, by_key in self._upserts.items():
            for columns, rows in _group_by_columns(by_key.values()).items():
                await conn.execute(_upsert_statement(table, columns), rows)


def _group_by_columns(rows) -> dict[tuple[str, ...], list[dict[str, Any]]]:
    groups: dict[tuple[str, ...], list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        groups[tuple(sorted(row))].append(row)
    return groups


def _upsert_statement(table: sa.Table, columns: tuple[str, ...]):
    keys = [c.name for c in table.primary_key.columns]
    stmt = pg_insert(table)
    updates = {c: stmt.excluded[c] for c in columns if c not in keys}
    if not updates:
        return stmt.on_conflict_do_nothing(index_elements=keys)
    return stmt.on_conflict_do_update(index_elements=keys, set_=updates)
