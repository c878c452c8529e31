"""A batch's changes, folded in memory before they reach PostgreSQL.

Handlers record upserts and inserts here; many events touching one row become one write.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from vsmesh.projectors.bulk import insert_rows, upsert_rows


class Changes:
    """Row changes of one batch, keyed so that later events in the batch win."""

    def __init__(self) -> None:
        self._upserts: dict[sa.Table, dict[tuple, dict[str, Any]]] = defaultdict(dict)
        self._inserts: dict[sa.Table, list[dict[str, Any]]] = defaultdict(list)

    def upsert(self, table: sa.Table, row: dict[str, Any]) -> None:
        """Insert the row, or update the given columns of the row with the same primary key."""
        names = _KEYS.get(table) or _key_names(table)
        key = tuple([row[name] for name in names])
        pending = self._upserts[table]
        found = pending.get(key)
        if found is None:
            pending[key] = dict(row)
        else:
            found.update(row)

    def insert(self, table: sa.Table, row: dict[str, Any]) -> None:
        """Append a row (its key must be new: inserts are not folded)."""
        self._inserts[table].append(row)

    def keep_newest(self, table: sa.Table, count: int, key: Callable[[dict[str, Any]], Any]) -> None:
        """Keep only the `count` inserted rows of `table` with the largest `key`."""
        rows = self._inserts.get(table)
        if rows and len(rows) > count:
            rows.sort(key=key, reverse=True)
            del rows[count:]

    def __len__(self) -> int:
        return sum(map(len, self._upserts.values())) + sum(map(len, self._inserts.values()))

    async def flush(self, conn: AsyncConnection) -> None:
        """Write every change; rows with the same set of columns go in one statement (or one COPY)."""
        for table, rows in self._inserts.items():
            for columns, group in _group_by_columns(rows).items():
                await insert_rows(conn, table, columns, group)
        for table, by_key in self._upserts.items():
            for columns, group in _group_by_columns(by_key.values()).items():
                await upsert_rows(conn, table, columns, group)


_KEYS: dict[sa.Table, tuple[str, ...]] = {}


def _key_names(table: sa.Table) -> tuple[str, ...]:
    # Cached: iterating a Table's primary key costs more than the rest of an upsert.
    names = _KEYS[table] = tuple(c.name for c in table.primary_key.columns)
    return names


def _group_by_columns(rows: Iterable[dict[str, Any]]) -> dict[tuple[str, ...], list[dict[str, Any]]]:
    groups: dict[tuple[str, ...], list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        groups[tuple(sorted(row))].append(row)
    return groups
