"""Replaying streams into a schema with reading and writing overlapped.

A reader task reads each stream and folds every batch in memory (decode, handlers, dedupe by key) into a
bounded queue; the writer applies one folded batch per transaction, its position included. While
PostgreSQL works on batch n, Python reads and folds batch n+1.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import gc
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass

import msgspec
import structlog
from nats.js import JetStreamContext
from sqlalchemy.ext.asyncio import AsyncEngine

from vsmesh.bus.reader import Start, Stop, StreamReader, count_pending, stream_sequence, stream_time_ns
from vsmesh.bus.splits import Share, split_start
from vsmesh.bus.streams import stream_info
from vsmesh.projectors.engine import driver
from vsmesh.projectors.engine.batches import Folded, fold, in_schema, write_folded
from vsmesh.projectors.engine.projection import Projection
from vsmesh.projectors.engine.reverted import load_reverted

log = structlog.get_logger(__name__)

Progress = Callable[[int, int], None]  # (events read, events to read)

_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
QUEUE_DEPTH = 2  # folded batches waiting for the writer: one in PostgreSQL, one ready, one being folded
# How long a batch may wait to fill up: while it waits, the loop reads (and the writer writes) the messages
# it waits for, and a fuller batch folds more events into each row and sets more aside (projectors/
# supersede.py). Waiting ends at the stream's head and when the reader pauses, so this bounds only a slow
# stream. A wait of a fraction of a second cut a loaded machine's rebuild into many part-filled batches that
# wrote rows for most events (docs/performance.md §Rebuild).
FILL_S = 5.0
# Messages a reader holds before it pauses its consumer (~1 KB each in memory): a batch ahead of the one being
# folded. A batch is never bigger (it takes what is queued once the reader pauses); more than one batch only
# grew the peak memory (docs/performance.md §Rebuild).
READ_AHEAD = 75_000
# How full a replay leaves the pages of a table it upserts (PostgreSQL's default: 100). Every batch rewrites
# the rows of the entities it touches, most of them written by the batch before; with room left in their page
# the new version goes there (a HOT update: no index entry, and the page's dead versions are pruned), and a
# batch's merge took 40% less time than into full pages, which is the wait at the end of a replay
# (docs/performance.md §Rebuild). A build sets its tables back to the default before they are served
# (`restore_fillfactor`).
UPSERTED_FILLFACTOR = 50


class Until(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """Where a point-in-time build stops: before the first message past `seq` (per stream) or after `time`."""

    seq: dict[str, int] = {}  # stream -> last sequence to include; "*" for every stream
    time: dt.datetime | None = None

    def __bool__(self) -> bool:
        return bool(self.seq) or self.time is not None

    def last_seq(self, stream: str) -> int | None:
        return self.seq.get(stream, self.seq.get("*"))

    def describe(self) -> str:
        parts = [f"seq {s}:{n}" if s != "*" else f"seq {n}" for s, n in self.seq.items()]
        if self.time is not None:
            parts.append(f"time {self.time.isoformat()}")
        return ", ".join(parts) or "head"


@dataclass
class Replayed:
    """What a replay did: the positions it reached and how many messages it read."""

    positions: dict[str, int]
    messages: int = 0
    applied: int = 0
    rejected: int = 0


def stop_for(until: Until, stream: str) -> Stop | None:
    """The predicate for the first message a point-in-time build must not include."""
    last, at = until.last_seq(stream), until.time
    if last is None and at is None:
        return None
    # Whole microseconds as nanoseconds: exact integers, no float rounding at the boundary.
    at_ns = (at - _EPOCH) // dt.timedelta(microseconds=1) * 1000 if at is not None else None
    return lambda msg: (
        (last is not None and stream_sequence(msg) > last) or (at_ns is not None and stream_time_ns(msg) > at_ns)
    )


async def replay(
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
    """Replay every stream of `projection` from `start` into `schema`, up to its head or `until`.

    `ready`: what makes `schema` (a rebuild's staging schema, projectors/rebuild/build.py), awaited once the
    readers have started reading and before anything is folded or written."""
    result = Replayed(dict(start))
    queue: asyncio.Queue[Folded | BaseException | None] = asyncio.Queue(maxsize=QUEUE_DEPTH)
    total = 0
    with _fewer_collections():
        async with contextlib.AsyncExitStack() as stack:
            readers = []
            for stream, subject in projection.streams.items():
                share = projection.shares.get(stream) if projection.shares else None
                if share is not None:
                    reader, events = await _open_share(js, share, stream, subject, start.get(stream, 0))
                else:
                    reader, events = await _open(js, projection.hub, stream, subject, start.get(stream, 0), until)
                readers.append(await stack.enter_async_context(reader))
                total += events
            progress(0, total)
            reverted = asyncio.ensure_future(_reverted_when(ready, engine, projection, schema))
            reading = asyncio.create_task(_read(projection, readers, start, until, batch_size, queue, result, reverted))
            try:
                await _write(engine, projection, schema, queue, result, lambda: progress(result.messages, total))
                await reverted  # the schema is made (or its error raised) even when there was nothing to read
            finally:
                reading.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await reading
                if not reverted.done():
                    reverted.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):  # (the reader's error already said it)
                    await reverted
    return result


async def _reverted_when(
    ready: Awaitable[object] | None, engine: AsyncEngine, projection: Projection, schema: str
) -> frozenset[str]:
    """The hub's reverted event ids, read from `schema` once `ready` has made it (the build seeds them there
    before the replay, projectors/engine/reverted.py). The readers read meanwhile, and their first requests
    go out before the server's messages queue up in front of their answers."""
    if ready is not None:
        await ready
    async with engine.connect() as conn:
        return await load_reverted(await in_schema(conn, schema), projection.reverted)


_replaying = 0  # replays running in this process (they may overlap): the last one out restores the collector
_was_enabled = True  # whether the collector ran when the first replay in stopped it


@contextlib.contextmanager
def _fewer_collections() -> Iterator[None]:
    """No cyclic garbage collection while replaying. A replay keeps ~100k messages and their rows alive, and
    the collector kept walking them: with the default thresholds a quarter of a rebuild's CPU; with young
    collections every 100,000 allocations and the started heap frozen still ~9% (~0.7 µs an event), while
    those collections found a few hundred objects in a 200k-event rebuild (docs/performance.md §Rebuild). Reading,
    folding and writing make no reference cycles of their own; what other tasks of the process make meanwhile
    waits for the first collection after the replay. Reference counting frees everything else as ever."""
    global _replaying, _was_enabled
    if _replaying == 0:
        _was_enabled = gc.isenabled()
        gc.disable()
    _replaying += 1
    try:
        yield
    finally:
        _replaying -= 1
        if _replaying == 0 and _was_enabled:
            gc.enable()


async def _open(
    js: JetStreamContext, hub: str, stream: str, subject: str, after: int, until: Until
) -> tuple[StreamReader, int]:
    """A reader for one stream of the hub, and how many of its events the replay will read."""
    events = await count_pending(js, stream, subject, after)
    last = until.last_seq(stream)
    if last is not None:  # only what the build will read counts for its progress
        events -= await count_pending(js, stream, subject, last) if last > after else events
    local = await _mostly_ours(js, stream, after, last, events)
    log.debug("replay reads", hub=hub, stream=stream, after=after, events=events, filter_locally=local)
    reader = StreamReader(js, stream, subject, Start(after_seq=after), max_queued=READ_AHEAD, filter_locally=local)
    return reader, events


async def _open_share(
    js: JetStreamContext, share: Share, stream: str, subject: str, after: int
) -> tuple[StreamReader, int]:
    """A reader of one partition's share of the stream's split (bus/splits.py), and how many events it reads:
    from the partition's own stream, a mirror of the split that holds only its share (the server walks no
    other partition's events; the partitioned rebuild waited for it, bus/splits.wait_share)."""
    events = await count_pending(js, share.name, ">", await split_start(js, share.name, after))
    reader = StreamReader(
        js, stream, subject, Start(after_seq=after), max_queued=READ_AHEAD, share=share, mirrored=True
    )
    return reader, events


async def _read(
    projection: Projection,
    readers: list[StreamReader],
    start: dict[str, int],
    until: Until,
    batch_size: int,
    queue: asyncio.Queue[Folded | BaseException | None],
    result: Replayed,
    reverted: Awaitable[frozenset[str]],
) -> None:
    """Read and fold each stream in turn; an error travels through the queue so the writer raises it.
    `reverted` is awaited before the first fold: the schema it is read from may still be in the making."""
    try:
        for reader in readers:
            after = start.get(reader.stream, 0)
            stop = stop_for(until, reader.stream)
            async for batch in reader.drain_to_head(batch_size, stop=stop, fill_s=FILL_S):
                folded = fold(projection, reader.stream, batch, after, await reverted, supersede=True)
                after = folded.last
                await queue.put(folded)
        await queue.put(None)
    except asyncio.CancelledError:
        raise
    except BaseException as e:  # noqa: BLE001 - handed to the writer, which re-raises it
        await queue.put(e)


async def _write(
    engine: AsyncEngine,
    projection: Projection,
    schema: str,
    queue: asyncio.Queue[Folded | BaseException | None],
    result: Replayed,
    report: Callable[[], None],
) -> None:
    """Apply folded batches, one transaction each (rows and position together), until the reader is done."""
    loosened: set[str] = set()
    while True:
        item = await queue.get()
        if item is None:
            return
        if isinstance(item, BaseException):
            raise item
        async with engine.begin() as conn:
            # Nobody reads a staging schema, and rows and position commit together either way: a batch lost
            # to a PostgreSQL crash is replayed on resume, so no need to wait for each WAL flush.
            first = ["SET LOCAL synchronous_commit TO OFF"]
            # By name: a partitioned rebuild's workers take these tables' locks in the same order (no deadlock).
            for name in sorted({table.name for table in item.changes.upserted()} - loosened):
                loosened.add(name)
                first.append(f'ALTER TABLE "{schema}"."{name}" SET (fillfactor = {UPSERTED_FILLFACTOR})')
            await (await driver.raw_connection(conn)).execute(";".join(first))
            await write_folded(await in_schema(conn, schema), projection, item)
        result.positions[item.stream] = item.last
        result.messages += item.messages
        result.applied += item.applied
        result.rejected += len(item.rejected)
        report()


def restore_fillfactor(projection: Projection, schema: str) -> str:
    """SQL that sets every table of `projection` in `schema` back to the default fillfactor (see
    UPSERTED_FILLFACTOR): the pages a replay left half full stay so, new ones fill up as ever."""
    return ";".join(
        f'ALTER TABLE "{schema}"."{table.name}" RESET (fillfactor)' for table in projection.metadata.sorted_tables
    )


async def _mostly_ours(js: JetStreamContext, stream: str, after: int, last: int | None, matching: int) -> bool:
    """True when the hub's events are most of what is left of the stream, so filtering here is cheaper.

    Filtering here wins when the hub's events are nearly all of the stream and loses when they are half of it:
    skipping another hub's message costs Python more than the server's filter costs it (docs/performance.md
    §Reading).
    """
    head = (await stream_info(js, stream)).state.last_seq
    remaining = min(head, last if last is not None else head) - after
    return remaining > 0 and matching * 5 >= remaining * 4
