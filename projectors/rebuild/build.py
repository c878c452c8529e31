"""Rebuild: replay a hub's streams into a staging schema while the live one serves, then swap in one transaction.

With `into`, the build stops at `until` and becomes a point-in-time copy of its own (no swap). A build that
was interrupted leaves its staging schema behind: the next run resumes it when it was the same build (same
projector code, same stop), and discards it otherwise. Neither ever touches the live schema before the swap.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import datetime as dt
import time
import zlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import msgspec
import sqlalchemy as sa
import structlog
from nats.js import JetStreamContext
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from vsmesh.bus.reader import Start, StreamReader
from vsmesh.errors import Busy, ConfigError
from vsmesh.projectors.engine import driver
from vsmesh.projectors.engine.batches import apply_batch, create_schema, in_schema, lock_hub, positions
from vsmesh.projectors.engine.pipeline import Progress, Replayed, replay, restore_fillfactor, stop_for
from vsmesh.projectors.engine.projection import Projection
from vsmesh.projectors.engine.reverted import REVERT_STREAM, mark_refolded, revert_row, reverts_in_log
from vsmesh.projectors.rebuild import whatif
from vsmesh.projectors.rebuild.copies import (
    BuildInfo,
    Until,
    drop_old,
    fingerprint,
    pit_schema,
    read_build_info,
    schema_exists,
    staging_schema,
    swap_in,
    write_build_info,
)
from vsmesh.projectors.rebuild.diff import SchemaDiff, diff_schemas
from vsmesh.projectors.rebuild.retention import first_sequences, gaps, plan_start
from vsmesh.projectors.rebuild.snapshot import restore_snapshot
from vsmesh.projectors.rebuild.snapshot_store import load_snapshot
from vsmesh.projectors.rebuild.whatif import Without

log = structlog.get_logger(__name__)

Review = Callable[[SchemaDiff], Awaitable[bool]]  # shown the new schema's diff, says whether to swap it in

DEFAULT_BATCH_SIZE = 75_000  # nobody reads a staging schema: big batches fold more events into each row and
# set more aside (projectors/engine/supersede.py): 10k -> 50k -> 75k, each faster, peak memory flat in the number
# of events and under 300 MB with the reader holding as many (pipeline.READ_AHEAD; docs/performance.md §Rebuild)


@dataclass(frozen=True)
class RebuildResult:
    hub: str
    events: int
    seconds: float
    positions: dict[str, int]
    schema: str = ""
    source: str = "log"
    resumed: bool = False
    swapped: bool = True  # False when the review of its diff declined the swap (the staging schema is kept)
    diff: SchemaDiff | None = None
    # Seconds spent in each step: `prepare` (claim, schema, snapshot, reverts), `replay`, `finish` (what
    # follows: catch-up, ANALYZE, swap and drop of the replaced schema; or the copy's rename).
    phases: dict[str, float] = field(default_factory=dict)

    @property
    def rate(self) -> float:
        return self.events / self.seconds if self.seconds else 0.0


async def rebuild(
    js: JetStreamContext,
    engine: AsyncEngine,
    projection: Projection,
    *,
    batch_size: int = DEFAULT_BATCH_SIZE,
    progress: Progress = lambda done, total: None,
    into: str | None = None,
    until: Until | None = None,
    fresh: bool = False,
    allow_gap: bool = False,
    review: Review | None = None,
    without: Without | None = None,
    replay_with: Callable[..., Awaitable[Replayed]] = replay,
) -> RebuildResult:
    """Rebuild `projection`'s hub from the log (or into the point-in-time copy `into`, stopping at `until`).

    With `review`, the new schema is first caught up with the log's head and compared with the live one;
    the swap happens only if `review` accepts that diff (a declined build is kept and the next run resumes it).
    With `without`, the copy leaves out an actor's events (projectors/rebuild/whatif.py); it needs `into`.
    `replay_with` folds the log into the staging schema: a partitioned rebuild passes its own
    (projectors/distribution/partitioned.py); what follows it is the same.
    """
    until = until or Until()
    if without is not None:
        if not into:
            raise ConfigError("a what-if build needs --into NAME: the live hub always holds every event")
        until = await whatif.pinned(js, projection, until)
    if until and not into:
        raise ConfigError("a rebuild that stops early needs --into NAME: the live hub always follows the head")
    target = pit_schema(into) if into else projection.schema
    staging = staging_schema(target)
    wanted = BuildInfo(
        projection.hub,
        "point-in-time" if into else "rebuild",
        until,
        fingerprint(projection),
        name=into,
        without=msgspec.json.encode(without).decode() if without else None,
    )
    started = time.perf_counter()
    bound = log.bind(hub=projection.hub, schema=target)
    async with engine.connect() as guard:
        await _claim(guard, staging, projection.hub)
        try:
            if into:
                await _refuse_existing(engine, target, into)
            start, info, resumed, seed = await _prepare(
                js, engine, projection, staging, wanted, fresh, allow_gap, without
            )
            prepared = time.perf_counter()
            replayed = await _replay_seeded(
                replay_with, seed, js, engine, projection, staging, start, until=until, batch_size=batch_size,
                progress=progress,
            )  # fmt: skip
            replayed_at = time.perf_counter()
            events = replayed.messages
            diff = None
            if into:
                await _finish_copy(engine, projection, staging, target, info)
                reached = replayed.positions
            elif review is not None:
                # Near the head first, so the diff shows what the new code changes, not what arrived meanwhile.
                more = await replay(js, engine, projection, staging, replayed.positions, until=until,
                                    batch_size=batch_size)  # fmt: skip
                events += more.messages
                diff = await diff_schemas(engine, projection, projection.schema, staging)
                if not await review(diff):
                    bound.info("rebuild not swapped: the review declined it", staging=staging)
                    seconds = time.perf_counter() - started
                    return RebuildResult(projection.hub, events, seconds, more.positions, staging, info.source,
                                         resumed, swapped=False, diff=diff,
                                         phases=_phases(started, prepared, replayed_at))  # fmt: skip
                reached, caught_up = await _swap(js, engine, projection, staging, more.positions, info, batch_size)
                events += caught_up
            else:
                reached, caught_up = await _swap(js, engine, projection, staging, replayed.positions, info, batch_size)
                events += caught_up
            progress(events, events)
        finally:
            await _release(guard, staging)
    seconds = time.perf_counter() - started
    phases = _phases(started, prepared, replayed_at)
    result = RebuildResult(
        projection.hub, events, seconds, reached, target, info.source, resumed, diff=diff, phases=phases
    )
    bound.info(
        "point-in-time copy built" if into else "rebuild swapped in",
        events=events,
        seconds=round(result.seconds, 2),
        events_per_s=round(result.rate),
        positions=reached,
        source=info.source,
        resumed=resumed,
        rejected=replayed.rejected,
    )
    return result


def _phases(started: float, prepared: float, replayed: float) -> dict[str, float]:
    now = time.perf_counter()
    return {"prepare": prepared - started, "replay": replayed - prepared, "finish": now - replayed}


async def _prepare(
    js: JetStreamContext,
    engine: AsyncEngine,
    projection: Projection,
    staging: str,
    wanted: BuildInfo,
    fresh: bool,
    allow_gap: bool,
    without: Without | None = None,
) -> tuple[dict[str, int], BuildInfo, bool, Callable[[AsyncEngine], Awaitable[None]]]:
    """Resume a leftover staging schema of the same build, or plan a new one; returns (start, info, resumed,
    seed): `seed` makes the new staging schema with what the build starts from (nothing for a resumed one).

    Only what the replay's reading needs is decided here (where it starts); the schema is made while the first
    messages are read (`_replay_seeded`): its DDL was a fixed wait before any reading (docs/performance.md
    §Rebuild)."""
    async with engine.connect() as conn:
        leftover = await read_build_info(conn, staging)
    if leftover is not None and not fresh and _same_build(leftover, wanted):
        start = await positions(engine, projection, staging)
        if not gaps(await first_sequences(js, projection), start):
            log.info("resuming an interrupted build", hub=projection.hub, schema=staging, positions=start)
            return start, leftover, True, _nothing
    if leftover is not None or await _exists(engine, staging):
        log.info("discarding an interrupted build", hub=projection.hub, schema=staging, fresh=fresh)
    start, snapshot = await plan_start(js, projection, wanted.until, allow_gap=allow_gap)
    info = dataclasses.replace(wanted, source=snapshot.name if snapshot else "log")
    body = await load_snapshot(js, snapshot) if snapshot else None
    reverts = await _reverts(js, projection, wanted.until)
    skipped = await whatif.left_out(js, projection, without, wanted.until) if without else []

    async def seed(engine: AsyncEngine) -> None:
        await create_schema(engine, projection, staging)
        async with engine.begin() as conn:
            # The snapshot's rows and the build record commit together: a crash in between leaves no half-restore.
            if body is not None:
                await restore_snapshot(conn, projection, staging, body)
            if reverts:  # the whole set before any stream is folded: streams replay one after the other
                table = projection.reverted
                stmt = pg_insert(table).values(reverts).on_conflict_do_nothing(index_elements=["revert_id"])
                await (await in_schema(conn, staging)).execute(stmt)
            await mark_refolded(conn, staging, [r["revert_id"] for r in reverts])  # folded in from the start
            if without:
                await whatif.seed(conn, projection, staging, skipped)
            await write_build_info(conn, staging, info)

    return start, info, False, seed


async def _nothing(engine: AsyncEngine) -> None:
    pass


async def _replay_seeded(
    replay_with: Callable[..., Awaitable[Replayed]],
    seed: Callable[[AsyncEngine], Awaitable[None]],
    js: JetStreamContext,
    engine: AsyncEngine,
    projection: Projection,
    staging: str,
    start: dict[str, int],
    **options: Any,
) -> Replayed:
    """`replay_with` while `seed` makes the staging schema: the replay starts reading at once and waits for the
    schema (`ready`) before it folds or writes anything. A seed that fails fails the replay."""
    seeding = asyncio.ensure_future(seed(engine))
    try:
        return await replay_with(js, engine, projection, staging, start, ready=seeding, **options)
    finally:
        if not seeding.done():  # the replay failed before it waited for the seed: nothing may be left running
            seeding.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await seeding


async def _reverts(js: JetStreamContext, projection: Projection, until: Until) -> list[dict]:
    """The hub's reverts up to `until`, as rows of its reverts table."""
    if REVERT_STREAM not in projection.streams:
        return []
    return [revert_row(e) for e in await reverts_in_log(js, projection.hub, stop_for(until, REVERT_STREAM))]


async def _swap(
    js: JetStreamContext,
    engine: AsyncEngine,
    projection: Projection,
    staging: str,
    reached: dict[str, int],
    info: BuildInfo,
    batch_size: int,
) -> tuple[dict[str, int], int]:
    """Under the hub lock (the live projector waits): catch up what arrived meanwhile, then swap."""
    await drop_old(engine, projection.schema)  # a leftover of an earlier swap, before taking the lock
    async with engine.begin() as conn:
        await (await driver.raw_connection(conn)).execute(restore_fillfactor(projection, staging))
    await _analyze(engine, projection, staging)
    async with engine.begin() as conn:
        await lock_hub(conn, projection.hub)
        reached, caught_up = await catch_up(js, conn, projection, staging, reached, batch_size)
        await write_build_info(conn, staging, dataclasses.replace(info, finished_at=dt.datetime.now(dt.UTC)))
        await swap_in(conn, staging, projection.schema)
    if not await drop_old(engine, projection.schema):
        log.warning("the replaced schema is still read; the next swap drops it", hub=projection.hub)
    return reached, caught_up


async def catch_up(
    js: JetStreamContext,
    conn: AsyncConnection,
    projection: Projection,
    schema: str,
    reached: dict[str, int],
    batch_size: int,
    until: Until | None = None,
) -> tuple[dict[str, int], int]:
    """Apply to `schema`, in the caller's transaction (which holds the hub lock), what the log holds past
    `reached` (up to `until`); returns the positions reached and how many messages were read."""
    reached, caught_up = dict(reached), 0
    target = await in_schema(conn, schema)
    for stream, subject in projection.streams.items():
        start = Start(after_seq=reached.get(stream, 0))
        async with StreamReader(js, stream, subject, start) as reader:
            async for batch in reader.drain_to_head(batch_size, stop=stop_for(until or Until(), stream)):
                result = await apply_batch(target, projection, stream, batch, lock=False)
                reached[stream] = result.position
                caught_up += len(batch)
    return reached, caught_up


async def _analyze(engine: AsyncEngine, projection: Projection, schema: str) -> None:
    """Planner statistics for the new tables before they answer: a freshly built schema has none, and the
    first reads after the swap were planned blind, with nested loops that made ops-hub's summary at 10,000
    services take tens of seconds instead of a tenth of one (docs/performance.md §Contracts).

    Two tables at a time, the biggest first, each on a connection of its own: PostgreSQL analyzes each in a
    process of its own, and one after the other they were a third of a rebuild's fixed cost, one core busy
    (docs/performance.md §Rebuild)."""
    names = [table.name for table in projection.metadata.sorted_tables]
    async with engine.connect() as conn:
        rows = (await conn.execute(_SIZES, {"schema": schema, "names": names})).all()
    sizes = {name: size for name, size in rows}
    waiting = sorted(names, key=lambda name: sizes.get(name, 0), reverse=True)

    async def analyze_some() -> None:
        async with engine.connect() as conn:
            while waiting:
                await conn.execute(sa.text(f'ANALYZE "{schema}"."{waiting.pop(0)}"'))
            await conn.commit()

    await asyncio.gather(*(analyze_some() for _ in range(ANALYZE_CONNECTIONS)))


ANALYZE_CONNECTIONS = 2
_SIZES = sa.text(
    "SELECT c.relname, pg_total_relation_size(c.oid) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
    "WHERE n.nspname = :schema AND c.relname = ANY(:names)"
)


async def _finish_copy(engine: AsyncEngine, projection: Projection, staging: str, target: str, info: BuildInfo) -> None:
    async with engine.begin() as conn:
        await (await driver.raw_connection(conn)).execute(restore_fillfactor(projection, staging))
        if info.without:
            await whatif.settle(conn, projection, staging)
        await write_build_info(conn, staging, dataclasses.replace(info, finished_at=dt.datetime.now(dt.UTC)))
        await conn.execute(sa.text(f'ALTER SCHEMA "{staging}" RENAME TO "{target}"'))


async def _refuse_existing(engine: AsyncEngine, target: str, name: str) -> None:
    if await _exists(engine, target):
        raise ConfigError(f"point-in-time copy {name!r} already exists; drop it with `vsmesh rebuild --drop {name}`")


async def _exists(engine: AsyncEngine, schema: str) -> bool:
    async with engine.connect() as conn:
        return await schema_exists(conn, schema)


def _same_build(a: BuildInfo, b: BuildInfo) -> bool:
    return (a.hub, a.kind, a.until, a.fingerprint, a.without) == (b.hub, b.kind, b.until, b.fingerprint, b.without)


def _guard_key(staging: str) -> int:
    # A different key space from the hub write lock (engine.hub_lock_key), so the two never collide.
    return -(zlib.crc32(f"build:{staging}".encode()) + 1)


async def _claim(conn: AsyncConnection, staging: str, hub: str) -> None:
    """One build per target at a time; the lock dies with the connection, so a killed build frees it."""
    got = (await conn.execute(sa.select(sa.func.pg_try_advisory_lock(_guard_key(staging))))).scalar_one()
    await conn.commit()
    if not got:
        raise Busy(f"a rebuild of {hub} into {staging} is already running; wait for it or stop it first")


async def _release(conn: AsyncConnection, staging: str) -> None:
    await conn.execute(sa.select(sa.func.pg_advisory_unlock(_guard_key(staging))))
    await conn.commit()
