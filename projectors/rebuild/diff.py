"""What differs between two schemas of one hub: a rebuild's staging schema and the live one before the swap,
or two point-in-time copies (what changed between two moments).

Per table, rows are matched by primary key: added (only in the new schema), removed (only in the old),
changed (both, with other values; the sample names the changed columns). A table without a primary key
is compared as a multiset of whole rows (added/removed only). The engine's own bookkeeping (positions,
build records) differs by nature and is left out. PostgreSQL does the matching (one statement per count,
one per sample), so a hub of millions of rows is diffed without loading it into Python.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from vsmesh.projectors.engine.projection import Projection

SAMPLE = 3  # rows shown per kind of difference and table


@dataclass
class TableDiff:
    table: str
    key: list[str]
    added: int = 0
    removed: int = 0
    changed: int = 0
    samples: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # kind -> rows (keys, changed columns)

    @property
    def identical(self) -> bool:
        return not (self.added or self.removed or self.changed)


@dataclass
class SchemaDiff:
    hub: str
    old: str
    new: str
    tables: list[TableDiff]

    @property
    def identical(self) -> bool:
        return all(t.identical for t in self.tables)

    def as_dict(self) -> dict[str, Any]:
        return {
            "hub": self.hub,
            "old": self.old,
            "new": self.new,
            "identical": self.identical,
            "tables": [
                {
                    "table": t.table,
                    "key": t.key,
                    "added": t.added,
                    "removed": t.removed,
                    "changed": t.changed,
                    "samples": t.samples,
                }  # fmt: skip
                for t in self.tables
            ],
        }


def compared_tables(projection: Projection) -> list[sa.Table]:
    """The hub's read-model tables: everything it declares but the engine's positions."""
    skip = {projection.positions.name}
    return [t for t in projection.metadata.sorted_tables if t.name not in skip]


async def diff_schemas(engine: AsyncEngine, projection: Projection, old: str, new: str) -> SchemaDiff:
    """How schema `new` differs from schema `old`, table by table (both must hold the hub's tables)."""
    async with engine.connect() as conn:
        return await diff_on(conn, projection, old, new)


async def diff_on(conn: AsyncConnection, projection: Projection, old: str, new: str) -> SchemaDiff:
    """`diff_schemas` on the caller's connection: it sees what the caller's open transaction wrote."""
    tables = [await _diff_table(conn, table, old, new) for table in compared_tables(projection)]
    return SchemaDiff(projection.hub, old, new, tables)


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


async def _diff_table(conn, table: sa.Table, old: str, new: str) -> TableDiff:
    key = [c.name for c in table.primary_key.columns]
    o, n = f"{_q(old)}.{_q(table.name)}", f"{_q(new)}.{_q(table.name)}"
    found = TableDiff(table.name, key)
    if not key:
        return await _diff_multiset(conn, found, o, n)
    # `=`, not IS NOT DISTINCT FROM: a primary key is never NULL, and only `=` lets PostgreSQL use the key's index
    # or a hash join (the other made every NOT EXISTS a scan: a 10,000-service ops-hub took a minute to diff).
    on = " AND ".join(f"a.{_q(k)} = b.{_q(k)}" for k in key)
    only = f"FROM {{a}} a WHERE NOT EXISTS (SELECT 1 FROM {{b}} b WHERE {on})"
    both = f"FROM {n} a JOIN {o} b ON {on} WHERE to_jsonb(a) IS DISTINCT FROM to_jsonb(b)"
    found.added = await _scalar(conn, f"SELECT count(*) {only.format(a=n, b=o)}")
    found.removed = await _scalar(conn, f"SELECT count(*) {only.format(a=o, b=n)}")
    found.changed = await _scalar(conn, f"SELECT count(*) {both}")
    keys = ", ".join(f"a.{_q(k)}" for k in key)
    if found.added:
        found.samples["added"] = await _rows(conn, f"SELECT to_jsonb(a) {only.format(a=n, b=o)} ORDER BY {keys}")
    if found.removed:
        found.samples["removed"] = await _rows(conn, f"SELECT to_jsonb(a) {only.format(a=o, b=n)} ORDER BY {keys}")
    if found.changed:
        pairs = await conn.execute(sa.text(f"SELECT to_jsonb(a), to_jsonb(b) {both} ORDER BY {keys} LIMIT {SAMPLE}"))
        found.samples["changed"] = [_changed(key, new_row, old_row) for new_row, old_row in pairs]
    return found


async def _diff_multiset(conn, found: TableDiff, o: str, n: str) -> TableDiff:
    only_new = f"(SELECT * FROM {n} EXCEPT ALL SELECT * FROM {o}) d"
    only_old = f"(SELECT * FROM {o} EXCEPT ALL SELECT * FROM {n}) d"
    found.added = await _scalar(conn, f"SELECT count(*) FROM {only_new}")
    found.removed = await _scalar(conn, f"SELECT count(*) FROM {only_old}")
    if found.added:
        found.samples["added"] = await _rows(conn, f"SELECT to_jsonb(d) FROM {only_new}")
    if found.removed:
        found.samples["removed"] = await _rows(conn, f"SELECT to_jsonb(d) FROM {only_old}")
    return found


def _changed(key: list[str], new: dict[str, Any], old: dict[str, Any]) -> dict[str, Any]:
    columns = sorted(c for c in new.keys() | old.keys() if new.get(c) != old.get(c))
    return {
        "key": {k: new.get(k) for k in key},
        "columns": {c: {"old": old.get(c), "new": new.get(c)} for c in columns},
    }


async def _scalar(conn, sql: str) -> int:
    return (await conn.execute(sa.text(sql))).scalar_one()


async def _rows(conn, sql: str) -> list[dict[str, Any]]:
    return [row for (row,) in await conn.execute(sa.text(f"{sql} LIMIT {SAMPLE}"))]
