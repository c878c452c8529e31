"""A scoped revert's tail tables (rows newest across entities, e.g. ops' recent events), and the reads of the
log both parts of a scoped revert make (projectors/reverts/scoped.py).

A tail table keeps the newest `kept` rows across the hub. Re-folding some entities can remove rows from it:
they are refilled from the events just below its oldest row kept in each stream (a window of `_WINDOW`
sequences, read beside the entities' events; wider reads only when the window holds too few rows).
Refills assume that within one stream later sequences carry later event times.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Mapping
from dataclasses import dataclass

import sqlalchemy as sa
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from sqlalchemy.ext.asyncio import AsyncConnection

from vsmesh.bus.direct import read_stored
from vsmesh.bus.provenance import decode_stored
from vsmesh.bus.reader import count_pending, stream_sequence
from vsmesh.projectors.engine import driver
from vsmesh.projectors.engine.batches import fold
from vsmesh.projectors.engine.changes import Changes
from vsmesh.projectors.engine.partitions import AppliedUpTo
from vsmesh.projectors.engine.projection import Projection

_WINDOW = 32  # sequences read below a tail's oldest row to refill it; widened when they hold too few


@functools.cache
def _tail_stats(table: sa.Table) -> sa.Select:
    return sa.select(table.c.stream, sa.func.count(), sa.func.min(table.c.seq)).group_by(table.c.stream)


ORDER = ("time", "stream", "seq")  # how a tail table orders its rows, newest last


async def run_after_batch(conn: AsyncConnection, projection: Projection) -> None:
    for stmt in projection.after_batch():
        await driver.execute(conn, stmt)


async def read_applied(
    js: JetStreamContext, stream: str, subject: str, after: int, upto: AppliedUpTo, last: int | None = None
) -> list[Msg]:
    """The messages on `subject` past `after` (up to `last`) the hub's projector has applied — each partition
    of a partitioned hub its own share, up to its own position. Direct gets where the stream allows
    (bus/direct.py: one request per read instead of a consumer's create, info and delete)."""
    end = upto.head.get(stream, 0) if last is None else min(last, upto.head.get(stream, 0))
    msgs = await read_stored(js, stream, subject, after, end)
    if not upto.shares:
        return msgs
    return [m for m in msgs if upto.applied(stream, m.subject, stream_sequence(m))]


@dataclass(frozen=True)
class Tail:
    kept: int
    cutoff: tuple | None  # its oldest row (time, stream, seq) when full
    below: dict[str, int]  # per stream, the sequence of its oldest row (or past the position): refills end there


async def tail_state(
    conn: AsyncConnection, projection: Projection, name: str, kept: int, at: Mapping[str, int]
) -> Tail:
    rows = await driver.fetch(conn, _tail_query(projection.metadata.tables[name]))
    if sum(n for _, n, _, *_ in rows) < kept:
        return Tail(kept, None, {})
    oldest = {stream: low for stream, _, low, *_ in rows}
    # A stream without rows in the tail: all of its events sort before the rows kept.
    below = {stream: oldest.get(stream, at.get(stream, 0) + 1) for stream in projection.streams}
    return Tail(kept, tuple(rows[0][3:]), below)


@functools.cache
def _tail_query(table: sa.Table) -> sa.Select:
    """Per stream: its rows and lowest sequence; on every row, the table's oldest row: one round trip."""
    order = [table.c[c] for c in ORDER]
    oldest = sa.select(*order).order_by(*order).limit(1).subquery()
    per_stream = (
        sa.select(table.c.stream, sa.func.count().label("n"), sa.func.min(table.c.seq).label("low"))
        .group_by(table.c.stream)
        .subquery()
    )
    return sa.select(per_stream, *oldest.c).select_from(per_stream.join(oldest, sa.true()))


async def tail_windows(
    js: JetStreamContext, projection: Projection, below: Mapping[str, int], upto: AppliedUpTo
) -> dict[str, list[Msg]]:
    """Per stream, the hub's messages in the `_WINDOW` sequences before `below`."""
    streams = [s for s in projection.streams if below.get(s, 0) > 1]
    reads = [
        read_applied(js, s, projection.streams[s], max(0, below[s] - 1 - _WINDOW), upto, below[s] - 1) for s in streams
    ]
    return dict(zip(streams, await asyncio.gather(*reads), strict=True))


async def refill_tail(
    js: JetStreamContext,
    conn: AsyncConnection,
    projection: Projection,
    table: sa.Table,
    tail: Tail,
    window: Mapping[str, list[Msg]],
    reverted: frozenset[str],
    upto: AppliedUpTo,
) -> None:
    """Fill a tail table back to its size from the events just below its oldest row in each stream."""
    count = sum(n for _, n, _ in await driver.fetch(conn, _tail_stats(table)))
    need = tail.kept - count
    if need <= 0:
        return
    found: dict[str, Changes] = {}
    for stream in projection.streams:
        if tail.below.get(stream, 0) > 1:
            low = max(1, tail.below[stream] - _WINDOW)
            found[stream] = fold(projection, stream, window.get(stream, []), low - 1, reverted).changes.only(
                lambda t, _: t is table
            )
    for stream, rows in found.items():
        below = tail.below[stream]
        if len(rows) < need and below - _WINDOW > 1 and not _older_than_needed(window.get(stream), found, need):
            found[stream] = await _rows_below(js, projection, stream, below, need, table, reverted, upto)
    for rows in found.values():
        await rows.flush(conn)
    await run_after_batch(conn, projection)


def _older_than_needed(window: list[Msg] | None, found: Mapping[str, Changes], need: int) -> bool:
    """True when the window's oldest event is older than the `need` newest rows found in all streams: what
    lies further back in its stream is older still (later sequences, later times) and cannot enter."""
    if not window:
        return False
    keys = sorted((tuple(r[c] for c in ORDER) for rows in found.values() for r in rows.rows()), reverse=True)
    if len(keys) < need:
        return False
    return decode_stored(window[0].data, window[0].headers, window[0].subject).time < keys[need - 1][0]


async def _rows_below(
    js: JetStreamContext,
    projection: Projection,
    stream: str,
    below: int,
    need: int,
    table: sa.Table,
    reverted: frozenset[str],
    upto: AppliedUpTo,
) -> Changes:
    """The tail rows of the newest events before sequence `below` that give `need` rows (or all there are)."""
    subject = projection.streams[stream]
    width, total = 4 * max(_WINDOW, need), None
    while True:
        low = max(1, below - width)
        msgs = await read_applied(js, stream, subject, low - 1, upto, below - 1)
        rows = fold(projection, stream, msgs, low - 1, reverted).changes.only(lambda t, _: t is table)
        if len(rows) >= need or low == 1:
            return rows
        if total is None:  # how many of the hub's messages there are below: stop once all were read
            total = await count_pending(js, stream, subject, 0) - await count_pending(js, stream, subject, below - 1)
        if len(msgs) >= total:
            return rows
        width *= 4
