"""A partitioned rebuild: each partition replays its share into the staging schema in a process of its own,
then the partitions are brought to one position per stream and their rows collapse into the plain rows a
single projector writes — so the rest of the rebuild (catch-up under the hub lock, swap) is the usual one,
and the swapped-in tables equal a single projector's rebuild, positions included.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import sqlalchemy as sa
import structlog
from nats.js import JetStreamContext
from sqlalchemy.ext.asyncio import AsyncEngine

from vsmesh.bus.reader import Start, StreamReader, stream_sequence
from vsmesh.bus.splits import Share, ensure_share, wait_share
from vsmesh.errors import ConfigError
from vsmesh.projectors.engine.batches import apply_batch, in_schema
from vsmesh.projectors.engine.checkpoint import read_positions, save_position
from vsmesh.projectors.engine.partitions import Partition, own_positions, parse_row
from vsmesh.projectors.engine.pipeline import Progress, Replayed, Until
from vsmesh.projectors.engine.projection import Projection

log = structlog.get_logger(__name__)

# Replays one partition of the hub into the schema (in another process) and says what it did.
RunPartition = Callable[[Partition, str], Awaitable[Replayed]]


def partitioned_replay(run_partition: RunPartition, count: int):  # noqa: ANN201 - replay's own signature
    """A replacement for pipeline.replay (rebuild's `replay_with`) running `count` partitions side by side."""

    async def replay_partitions(
        js: JetStreamContext,
        engine: AsyncEngine,
        projection: Projection,
        schema: str,
        start: dict[str, int],
        *,
        until: Until,
        batch_size: int,
        progress: Progress = lambda done, total: None,
        ready: Awaitable[object] | None = None,
    ) -> Replayed:
        if until:
            raise ConfigError(
                "a partitioned rebuild folds up to the head; build a point-in-time copy with one projector"
            )
        parts = [projection.for_partition(Partition(k, count)) for k in range(count)]
        # The server splits the log first (the shares' streams made, then waited for, side by side), while the
        # staging schema the workers write into is made.
        splitting = asyncio.ensure_future(_shares_ready(js, [s for p in parts for s in (p.shares or {}).values()]))
        try:
            if ready is not None:
                await ready
        except BaseException:
            splitting.cancel()
            raise
        await splitting
        # Each worker starts from its own row in the staging schema (or the plain one): a resumed build goes on.
        done = await asyncio.gather(*(run_partition(p.partition, schema) for p in parts))  # type: ignore[arg-type]
        # The catch-up reads the streams themselves: what arrived after the split was read is little.
        reading_all = [projection.for_partition(p.partition, split=False) for p in parts]  # type: ignore[arg-type]
        reached, caught_up = await collapse(js, engine, reading_all, schema, batch_size)
        result = Replayed(reached, sum(d.messages for d in done) + caught_up, sum(d.applied for d in done),
                          sum(d.rejected for d in done))  # fmt: skip
        progress(result.messages, result.messages)
        return result

    return replay_partitions


async def _shares_ready(js: JetStreamContext, shares: list[Share]) -> None:
    await asyncio.gather(*(ensure_share(js, share) for share in shares))
    await asyncio.gather(*(wait_share(js, share) for share in shares))


async def collapse(
    js: JetStreamContext, engine: AsyncEngine, parts: list[Projection], schema: str, batch_size: int
) -> tuple[dict[str, int], int]:
    """Catch every partition up to the furthest one per stream, then replace their rows by plain ones."""
    async with engine.connect() as conn:
        rows = await read_positions(await in_schema(conn, schema), parts[0].positions)
    whole = parts[0].whole()
    target = {
        stream: max(own_positions(rows, [stream], p.partition).get(stream, 0) for p in parts)  # type: ignore[arg-type]
        for stream in whole.streams
    }
    caught_up = 0
    for part in parts:
        own = own_positions(rows, part.streams, part.partition)  # type: ignore[arg-type]
        for stream, subject in part.streams.items():
            caught_up += await _catch_up(js, engine, part, schema, stream, subject, own.get(stream, 0),
                                         target[stream], batch_size)  # fmt: skip
    async with engine.begin() as conn:
        table = whole.positions
        # Read again: a partition whose share was empty got its first row from the catch-up just now.
        rows = await read_positions(await in_schema(conn, schema), table)
        await (await in_schema(conn, schema)).execute(
            sa.delete(table).where(table.c.stream.in_([n for n in rows if parse_row(n)[1] is not None]))
        )
        for stream, at in target.items():
            if at:
                await save_position(await in_schema(conn, schema), table, stream, at)
    log.info("partitions collapsed", hub=whole.hub, schema=schema, positions=target, caught_up=caught_up)
    return {s: at for s, at in target.items() if at}, caught_up


async def _catch_up(
    js: JetStreamContext,
    engine: AsyncEngine,
    part: Projection,
    schema: str,
    stream: str,
    subject: str,
    after: int,
    target: int,
    batch_size: int,
) -> int:
    """Apply the partition's events of `stream` past `after` up to `target`; returns the messages read."""
    if after >= target:
        return 0
    read = 0
    async with StreamReader(js, stream, subject, Start(after_seq=after)) as reader:
        async for batch in reader.drain_to_head(batch_size, stop=lambda m: stream_sequence(m) > target):
            async with engine.begin() as conn:
                await apply_batch(await in_schema(conn, schema), part, stream, batch, lock=False)
            read += len(batch)
    return read
