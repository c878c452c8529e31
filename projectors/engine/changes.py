"""A batch's changes, folded in memory before they reach PostgreSQL.

Handlers record upserts and inserts here; many events touching one row become one write.
"""

from __future__ import annotations

import operator
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from vsmesh.projectors.engine.bulk import insert_rows, literal_inserts, literal_upserts, upsert_rows


class Changes:
    """Row changes of one batch, keyed so that later events in the batch win."""

    def __init__(self) -> None:
        self._upserts: dict[sa.Table, dict[tuple, dict[str, Any]]] = defaultdict(dict)
        self._inserts: dict[sa.Table, list[dict[str, Any]]] = defaultdict(list)
        # Rows of which only the newest `count` are kept: (count, [(key, build, args)]), built at flush.
        self._newest: dict[sa.Table, tuple[int, list[tuple[Any, Callable[..., dict[str, Any]], tuple]]]] = {}

    def upsert(self, table: sa.Table, row: dict[str, Any]) -> None:
        """Insert the row, or update the given columns of the row with the same primary key."""
        key = (_KEY_OF.get(table) or _key_of(table))(row)
        pending = self._upserts[table]
        found = pending.get(key)
        if found is None:
            pending[key] = dict(row)
        else:
            found.update(row)

    def insert(self, table: sa.Table, row: dict[str, Any]) -> None:
        """Append a row (its key must be new: inserts are not folded)."""
        self._inserts[table].append(row)

    def insert_newest(
        self, table: sa.Table, count: int, key: Any, build: Callable[..., dict[str, Any]], args: tuple
    ) -> None:
        """Append the row `build(*args)` if its `key` is among the batch's `count` largest for `table`.

        The row is built only if it is kept: a rebuild batch of 50,000 events built 50,000 recent-event rows
        to write 200 of them (py-spy, bench/rebuild.py). Keys must be unique and comparable.
        """
        found = self._newest.get(table)
        if found is None:
            found = self._newest[table] = (count, [])
        entries = found[1]
        entries.append((key, build, args))
        if len(entries) >= 4 * count + 256:  # bounded: what is dropped here holds no event until the write
            _keep_largest(entries, count)

    def newest_floor(self, table: sa.Table) -> Any | None:
        """The smallest key `insert_newest` keeps for `table` once it holds its `count` rows (a row keyed below
        it can no longer be kept by this batch); None while it holds fewer."""
        found = self._newest.get(table)
        if found is None or len(found[1]) < found[0]:
            return None
        count, entries = found
        _keep_largest(entries, count)
        return entries[-1][0]

    def newest_only(self, table: sa.Table) -> bool:
        """True when these changes hold nothing but upserts and `insert_newest` rows of `table`."""
        return not any(self._inserts.values()) and all(t is table for t in self._newest)

    def adopt_newest(self, other: Changes, table: sa.Table) -> None:
        """Take `other`'s `insert_newest` rows of `table` as if they had been offered here."""
        found = other._newest.get(table)
        if found is not None:
            count, entries = found
            for key, build, args in entries:
                self.insert_newest(table, count, key, build, args)

    def keep_newest(self, table: sa.Table, count: int, key: Callable[[dict[str, Any]], Any]) -> None:
        """Keep only the `count` inserted rows of `table` with the largest `key`."""
        rows = self._inserts.get(table)
        if rows and len(rows) > count:
            rows.sort(key=key, reverse=True)
            del rows[count:]

    def only(self, keep: Callable[[sa.Table, dict[str, Any]], bool]) -> Changes:
        """The changes whose rows `keep` accepts (a scoped revert writes only its entities' rows)."""
        self._build_newest()
        kept = Changes()
        for table, by_key in self._upserts.items():
            if rows := {k: r for k, r in by_key.items() if keep(table, r)}:
                kept._upserts[table] = rows
        for table, inserted in self._inserts.items():
            if rows := [r for r in inserted if keep(table, r)]:
                kept._inserts[table] = rows
        return kept

    def rows(self) -> list[dict[str, Any]]:
        """Every row, inserted or upserted, of every table."""
        self._build_newest()
        return [r for rows in self._inserts.values() for r in rows] + [
            r for by_key in self._upserts.values() for r in by_key.values()
        ]

    def upserted(self) -> list[sa.Table]:
        """The tables these changes upsert rows of."""
        return [table for table, by_key in self._upserts.items() if by_key]

    def __len__(self) -> int:
        newest = sum(min(count, len(entries)) for count, entries in self._newest.values())
        return sum(map(len, self._upserts.values())) + sum(map(len, self._inserts.values())) + newest

    async def flush(self, conn: AsyncConnection) -> None:
        """Write every change; rows with the same set of columns go in one statement (or one COPY)."""
        for upsert, table, columns, group in self._groups():
            await (upsert_rows if upsert else insert_rows)(conn, table, columns, group)

    def literal(self, conn: AsyncConnection) -> list[str] | None:
        """What `flush` writes, as literal SQL statements in the same order, or None when a group cannot be
        written so (too many rows, or a value a literal cannot carry: see driver.literal_rows)."""
        out = []
        for upsert, table, columns, group in self._groups():
            written = (literal_upserts if upsert else literal_inserts)(conn, table, columns, group)
            if written is None:
                return None
            out.append(written)
        return out

    def _groups(self) -> Iterator[tuple[bool, sa.Table, tuple[str, ...], list[dict[str, Any]]]]:
        """(upsert?, table, columns, rows) in the order they are written: inserts, then upserts, each table's
        rows grouped by the columns they set."""
        self._build_newest()
        for table, rows in self._inserts.items():
            for columns, group in _group_by_columns(rows).items():
                yield False, table, columns, group
        for table, by_key in self._upserts.items():
            for columns, group in _group_by_columns(by_key.values()).items():
                yield True, table, columns, group

    def _build_newest(self) -> None:
        """Build the kept rows of `insert_newest` as inserts (a scoped revert's `only` must see them too)."""
        for table, (count, entries) in self._newest.items():
            _keep_largest(entries, count)
            self._inserts[table].extend(build(*args) for _, build, args in entries)
        self._newest.clear()


_FIRST = operator.itemgetter(0)


def _keep_largest(entries: list[tuple[Any, Any, tuple]], count: int) -> None:
    # Sorting what mostly arrives in order is nearly linear (Timsort); keys are unique, so no ties.
    entries.sort(key=_FIRST, reverse=True)
    del entries[count:]


_KEY_OF: dict[sa.Table, Callable[[dict[str, Any]], tuple]] = {}


def _key_of(table: sa.Table) -> Callable[[dict[str, Any]], tuple]:
    """A row's primary key as a tuple (cached: iterating a Table's primary key costs more than an upsert)."""
    names = tuple(c.name for c in table.primary_key.columns)
    if len(names) == 1:
        (name,) = names
        key_of = _KEY_OF[table] = lambda row: (row[name],)
    else:
        key_of = _KEY_OF[table] = operator.itemgetter(*names)  # a tuple, read in C
    return key_of


def _group_by_columns(rows: Iterable[dict[str, Any]]) -> dict[tuple[str, ...], list[dict[str, Any]]]:
    groups: dict[tuple[str, ...], list[dict[str, Any]]] = defaultdict(list)
    sorted_names: dict[tuple[str, ...], tuple[str, ...]] = {}  # rows of one handler list their keys alike
    for row in rows:
        names = tuple(row)
        columns = sorted_names.get(names)
        if columns is None:
            columns = sorted_names[names] = tuple(sorted(names))
        groups[columns].append(row)
    return groups
