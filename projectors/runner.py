"""Live projection: follow each stream from the hub's position, batch, apply, repeat."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Iterable

import structlog
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from prometheus_client import Histogram
from sqlalchemy.exc import DataError, DBAPIError, IntegrityError, InterfaceError
from sqlalchemy.ext.asyncio import AsyncEngine

from vsmesh.bus.quarantine import Rejected, quarantine
from vsmesh.bus.splits import ensure_share
from vsmesh.errors import Busy
from vsmesh.projectors.engine import driver
from vsmesh.projectors.engine.batches import (
    BatchResult,
    Known,
    apply_batch,
    ensure_schema,
    fold,
    is_stale,
    live_lock_sql,
    lock_hub,
    lock_partition,
    positions,
    settle,
    write_known,
)
from vsmesh.projectors.engine.checkpoint import read_positions, save_position
from vsmesh.projectors.engine.partitions import needs_rebuild
from vsmesh.projectors.engine.pipeline import READ_AHEAD
from vsmesh.projectors.engine.projection import Projection
from vsmesh.projectors.engine.source import Follow, follow, retry
from vsmesh.projectors.engine.stats import ProjectorStats
from vsmesh.projectors.rebuild.build import rebuild
from vsmesh.projectors.reverts.scoped import RevertRefolder
from vsmesh.settings import Settings

log = structlog.get_logger(__name__)

ANNOUNCED_SUBJECTS = 64  # a bigger batch is announced without its subjects: a live page re-reads everything

# Process-wide, as Prometheus metrics are: /metrics (gateway/pages/metrics.py) exposes it.
BATCH_SECONDS = Histogram(
    "vsmesh_projector_batch_seconds", "time to apply one live batch, PostgreSQL included", ["hub"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
)  # fmt: skip


async def run_projection(
    js: JetStreamContext,
    engine: AsyncEngine,
    projection: Projection,
    settings: Settings,
    stop: asyncio.Event,
    stats: ProjectorStats,
) -> None:
    """Follow every stream of the projection until `stop` is set."""
    await ensure_schema(engine, projection, projection.schema)
    await _settle_partitioning(js, engine, projection, stop)
    for share in (projection.shares or {}).values():  # its own stream kept up to date for the next rebuild
        await ensure_share(js, share)
    # Every stream it follows, at 0 until something of it is applied: /metrics shows the stream from the start.
    applied = await positions(engine, projection, projection.schema)
    stats.positions = {stream: 0 for stream in projection.streams} | applied
    refold = Refold(js, engine, projection.whole(), stop)
    if await refold.refolder.load():  # the reverts shown so far; the ones the projector applies next are new
        refold.request()  # stored before a stop, never re-folded
    refolding = asyncio.create_task(refold.run())
    try:
        await asyncio.gather(
            *(
                _follow(js, engine, projection, stream, subject, settings, stop, stats, refold)
                for stream, subject in projection.streams.items()
            )
        )
    finally:
        refolding.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await refolding


class Refold:
    """Re-folds the hub (no downtime) after a revert or an unrevert reached it.

    Events a revert hides were already applied. A hub whose handlers say what they key on re-folds only
    the entities the reverts touch (projectors/reverts/scoped.py); any other hub is rebuilt from its whole
    log without them (replay + swap, projectors/engine/reverted.py). Requests that arrive during a re-fold coalesce
    into one more.
    """

    def __init__(self, js: JetStreamContext, engine: AsyncEngine, projection: Projection, stop: asyncio.Event):

        self.js, self.engine, self.projection, self.stop = js, engine, projection, stop
        self.wanted = asyncio.Event()
        self.refolder = RevertRefolder(js, engine, projection)

    def request(self, msgs: Iterable[Msg] = ()) -> None:
        """Re-fold soon; `msgs`: the batch that applied reverts (the refolder reads them from it, not the log)."""
        self.refolder.arrived(msgs)
        self.wanted.set()

    async def run(self) -> None:
        bound = log.bind(hub=self.projection.hub)
        while not self.stop.is_set():
            await self.wanted.wait()
            self.wanted.clear()
            try:
                await self.refolder.refold()
            except Busy as e:  # another rebuild of the hub is running: try again after it
                bound.warning("re-fold after a revert waits", reason=str(e))
                await asyncio.sleep(0.5)
                self.wanted.set()
            except Exception as e:  # noqa: BLE001 - the live projector goes on; the next revert retries
                bound.error("re-fold after a revert failed", error=repr(e))
                await asyncio.sleep(1.0)
                self.wanted.set()


async def _follow(
    js: JetStreamContext,
    engine: AsyncEngine,
    projection: Projection,
    stream: str,
    subject: str,
    settings: Settings,
    stop: asyncio.Event,
    stats: ProjectorStats,
    refold: Refold | None = None,
) -> None:
    after = stats.positions.get(stream, 0)
    bound = log.bind(hub=projection.hub, stream=stream)
    bound.info("projector following", position=after, subject=subject)
    last_log = time.monotonic()
    how = Follow(settings.batch_size, settings.batch_wait_ms / 1000, READ_AHEAD)
    timer = BATCH_SECONDS.labels(projection.hub)
    share = projection.shares.get(stream) if projection.shares else None
    known: Known | None = None  # the state this follower's last batch left (see _apply)
    async for batch in follow(js, stream, subject, after, how, stop, share):
        if not batch.msgs:  # a partition at rest: all of its share is applied up to there
            stats.positions[stream] = await settle(engine, projection, stream, batch.settled)
            known = None
            continue
        started = time.perf_counter()
        result = await _apply_with_retry(js, engine, projection, stream, batch.msgs, stop, stats, bound, known)
        took = time.perf_counter() - started
        timer.observe(took)
        if stats.on_batch is not None:
            stats.on_batch(stats.name, len(batch.msgs), started, took)
        if result is None:
            return
        known = result.known
        stats.applied += result.applied
        stats.positions[stream] = result.position
        if stats.on_applied is not None:
            few = len(batch.msgs) <= ANNOUNCED_SUBJECTS
            stats.batch_subjects = [m.subject for m in batch.msgs] if few else None
            await stats.on_applied(stats)
        if result.reverts and refold is not None and _refolds(projection):
            refold.request(batch.msgs)
        if time.monotonic() - last_log > 10:
            bound.info("projector progress", position=result.position, applied=stats.applied, lag=batch.lag)
            last_log = time.monotonic()


def _refolds(projection: Projection) -> bool:
    """Whether this projector re-folds the hub after a revert: every partition sees the revert, one rebuilds."""
    return projection.partition is None or projection.partition.index == 0


async def _settle_partitioning(js: JetStreamContext, engine: AsyncEngine, projection: Projection,
                               stop: asyncio.Event) -> None:  # fmt: skip
    """Rebuild the hub once when its tables were projected with another partitioning (another N, or none)."""

    while not stop.is_set():
        async with engine.connect() as conn:
            rows = await read_positions(await driver.in_schema(conn, projection.schema), projection.positions)
        if not needs_rebuild(rows, projection.partition):
            return
        log.info("the partitioning changed: rebuilding the hub", hub=projection.hub, positions=sorted(rows),
                 partition=projection.partition)  # fmt: skip
        try:
            await rebuild(js, engine, projection.whole(), fresh=True)
        except Busy:  # another partition rebuilds it: wait for its swap
            await asyncio.sleep(0.5)


async def _apply(
    js: JetStreamContext,
    engine: AsyncEngine,
    projection: Projection,
    stream: str,
    batch: list[Msg],
    known: Known | None = None,
) -> BatchResult:
    """One live batch. From `known` (the state the previous batch left), folded first and written in one round
    trip where it can be (batches.write_known); else, or when another writer moved the state, its lock goes
    with BEGIN, the state is read, and the statements after its rows go with COMMIT (driver.few_trips)."""
    if known is not None:
        folded = fold(projection, stream, batch, known.after, known.reverted)
        if folded.last <= known.after:
            return BatchResult(0, 0, known.after, known=known)
        if folded.rejected:
            # Before the commit, as below; a batch redone after a failed guard copies them again (idempotent).
            await quarantine(js, folded.rejected, found_by=projection.hub)
        try:
            return await write_known(engine, projection, folded, known)
        except DBAPIError as e:
            if not is_stale(e):
                raise
            log.info("live state moved by another writer: batch redone from the stored state",
                     hub=projection.hub, stream=stream, known_position=known.after)  # fmt: skip
    async with driver.few_trips(engine, projection.schema, live_lock_sql(projection)) as (conn, at_commit):
        result = await apply_batch(conn, projection, stream, batch, lock=False, at_commit=at_commit)
        if result.rejected:
            # Before the commit: a crash in between re-reads the batch, and the copy is idempotent.
            await quarantine(js, result.rejected, found_by=projection.hub)
    return result


async def _apply_with_retry(
    js: JetStreamContext,
    engine: AsyncEngine,
    projection: Projection,
    stream: str,
    batch: list[Msg],
    stop: asyncio.Event,
    stats: ProjectorStats,
    bound: structlog.typing.FilteringBoundLogger,
    known: Known | None = None,
) -> BatchResult | None:
    """Apply a batch, retrying while PostgreSQL is away (a batch is idempotent by position); `known`: see _apply
    (a retry reads the state again)."""

    def report(e: BaseException) -> None:
        stats.last_error = (
            f"cannot write to PostgreSQL ({str(e).splitlines()[0]}); retrying: check that it runs and that "
            "VSMESH_DATABASE_URL points at it"
        )
        bound.warning("batch will be retried", error=stats.last_error, first=batch[0].metadata.sequence.stream)

    try:
        tries = iter([known])
        result = await retry(
            lambda: _apply(js, engine, projection, stream, batch, next(tries, None)),
            stop=stop,
            transient=(DBAPIError, InterfaceError, OSError),
            unless=(IntegrityError, DataError),
            on_error=report,
        )
    except (IntegrityError, DataError) as e:
        # A value PostgreSQL refuses would fail this batch forever: find the event and quarantine it.
        bound.warning("batch refused by PostgreSQL; applying it event by event", error=str(e).splitlines()[0])
        return await _apply_one_by_one(js, engine, projection, stream, batch, bound)
    if result is not None:
        stats.last_error = None
    return result


async def _apply_one_by_one(
    js: JetStreamContext,
    engine: AsyncEngine,
    projection: Projection,
    stream: str,
    batch: list[Msg],
    bound: structlog.typing.FilteringBoundLogger,
) -> BatchResult:
    """Apply each message in its own transaction; one PostgreSQL refuses is quarantined and passed over."""
    applied = skipped = reverts = 0
    last = 0
    for msg in batch:
        try:
            async with driver.transaction(engine, projection.schema) as conn:
                result = await apply_batch(conn, projection, stream, [msg])
                if result.rejected:
                    await quarantine(js, result.rejected, found_by=projection.hub)
            applied, skipped, last = applied + result.applied, skipped + result.skipped, result.position
            reverts += result.reverts
        except (IntegrityError, DataError) as e:
            reason = f"{projection.hub} could not store it: {str(e).splitlines()[0]}"
            async with driver.transaction(engine, projection.schema) as conn:
                if projection.partition is not None:
                    await lock_partition(conn, projection)
                else:
                    await lock_hub(conn, projection.hub)
                await quarantine(js, [Rejected(msg, reason)], found_by=projection.hub)
                last = msg.metadata.sequence.stream
                await save_position(conn, projection.positions, projection.position_row(stream), last)
            bound.warning("event quarantined", sequence=last, reason=reason)
            skipped += 1
    return BatchResult(applied, skipped, last, reverts=reverts)
