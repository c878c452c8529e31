"""Snapshots of a hub: its tables and positions read in one consistent transaction, stored with the log;
restored into a fresh schema when retention has aged out the events a rebuild would need."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass

import sqlalchemy as sa
import structlog
from nats.errors import Error as NatsError
from nats.js import JetStreamContext
from sqlalchemy.exc import DBAPIError, InterfaceError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from vsmesh.bus.reader import count_pending
from vsmesh.bus.streams import stream_info
from vsmesh.errors import SnapshotMismatch
from vsmesh.projectors.engine.batches import in_schema
from vsmesh.projectors.engine.checkpoint import read_positions, save_position
from vsmesh.projectors.engine.driver import raw_connection
from vsmesh.projectors.engine.projection import Projection
from vsmesh.projectors.engine.stats import ProjectorStats
from vsmesh.projectors.rebuild.copies import fingerprint
from vsmesh.projectors.rebuild.snapshot_store import (
    SnapshotBody,
    SnapshotInfo,
    TableDump,
    list_snapshots,
    object_name,
    prune_snapshots,
    put_snapshot,
)
from vsmesh.settings import Settings

log = structlog.get_logger(__name__)

RETRY_S = 60.0  # after a failed snapshot


async def take_snapshot(
    js: JetStreamContext, engine: AsyncEngine, projection: Projection, *, keep: int = 0
) -> SnapshotInfo:
    """Snapshot the live hub (every table and its positions, as one moment) into the object store."""
    schema = projection.schema
    async with engine.connect() as conn:
        # One REPEATABLE READ transaction: the tables and positions agree although the projector writes on.
        conn = await conn.execution_options(isolation_level="REPEATABLE READ")
        async with conn.begin():
            positions = await read_positions(await in_schema(conn, schema), projection.positions)
            dumps = [await _dump(conn, schema, table) for table in _data_tables(projection)]
            rows = await _count_rows(conn, schema, projection)
    created = dt.datetime.now(dt.UTC)
    info = SnapshotInfo(
        hub=projection.hub,
        name=object_name(projection.hub, created),
        created=created,
        positions=positions,
        stamps=await _stamps(js, positions),
        covers=await _covers(js, projection, positions),
        fingerprint=fingerprint(projection),
        tables=[d.name for d in dumps],
        rows=rows,
    )
    stored = await put_snapshot(js, SnapshotBody(info, dumps))
    if keep:
        await prune_snapshots(js, projection.hub, keep)
    return stored


async def restore_snapshot(conn: AsyncConnection, projection: Projection, schema: str, body: SnapshotBody) -> None:
    """Load a snapshot's rows and positions into `schema`'s (empty) tables, in the caller's transaction."""
    raw = await raw_connection(conn)  # inside the caller's transaction: rows and positions commit together
    tables = projection.metadata.tables
    for dump in body.tables:
        table = tables.get(dump.name)
        missing = [c for c in dump.columns if table is None or c not in table.c]
        if missing:
            raise SnapshotMismatch(
                f"snapshot {body.info.name} has {dump.name}.{missing[0]}, which {projection.hub} no longer has; "
                "restore the projector version that took it, or rebuild with --allow-gap"
            )
        await raw.copy_to_table(
            dump.name, source=_chunks(dump.copy), columns=dump.columns, schema_name=schema, format="binary"
        )
    target = await in_schema(conn, schema)
    for stream, position in body.info.positions.items():
        await save_position(target, projection.positions, stream, position)


async def snapshot_periodically(
    js: JetStreamContext,
    engine: AsyncEngine,
    projection: Projection,
    settings: Settings,
    stop: asyncio.Event,
    stats: ProjectorStats,
) -> None:
    """In `vsmesh up`: snapshot the hub every N applied events or M minutes, whichever comes first."""
    if not settings.snapshot_every_events and not settings.snapshot_every_minutes:
        return
    try:
        newest = next(iter(await list_snapshots(js, projection.hub)), None)
    except (NatsError, TimeoutError) as e:
        log.warning("snapshots not listed; counting from now", hub=projection.hub, error=str(e) or repr(e))
        newest = None
    last = _Last(dict(newest.positions) if newest else {}, time.monotonic() - _age_s(newest), stats.applied)
    not_before = 0.0
    while not stop.is_set():
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), 1.0)
            return
        if time.monotonic() < not_before or not last.due(stats, settings):
            continue
        try:
            info = await take_snapshot(js, engine, projection, keep=settings.snapshot_keep)
        except (NatsError, DBAPIError, InterfaceError, OSError, TimeoutError) as e:
            # Nothing is lost: the log still holds every event. Try again in a minute, not every tick.
            log.warning("snapshot failed; will retry", hub=projection.hub, error=(str(e).splitlines() or [repr(e)])[0])
            not_before = time.monotonic() + RETRY_S
            continue
        last = _Last(dict(info.positions), time.monotonic(), stats.applied)
        stats.last_snapshot = info.name


@dataclass(frozen=True)
class _Last:
    """The last snapshot as the schedule sees it: its positions, when, and the applied count then."""

    positions: dict[str, int]
    at: float
    applied: int

    def due(self, stats: ProjectorStats, settings: Settings) -> bool:
        """Something changed since, and N events or M minutes have passed."""
        if {s: p for s, p in stats.positions.items() if p} == {s: p for s, p in self.positions.items() if p}:
            return False
        every_events, every_minutes = settings.snapshot_every_events, settings.snapshot_every_minutes
        return bool(every_events and stats.applied - self.applied >= every_events) or bool(
            every_minutes and time.monotonic() - self.at >= every_minutes * 60
        )


async def _chunks(data: bytes) -> AsyncIterator[bytes]:
    # asyncpg reads plain bytes as a file name; an async iterable is taken as the data itself.
    yield data


def _data_tables(projection: Projection) -> list[sa.Table]:
    return [t for t in projection.metadata.sorted_tables if t is not projection.positions]


async def _dump(conn: AsyncConnection, schema: str, table: sa.Table) -> TableDump:
    raw = await raw_connection(conn)  # in the snapshot's REPEATABLE READ transaction
    columns = [str(c.name) for c in table.columns]  # plain str: msgpack knows no quoted_name
    parts: list[bytes] = []

    async def sink(chunk: bytes) -> None:
        parts.append(bytes(chunk))

    await raw.copy_from_table(table.name, output=sink, columns=columns, schema_name=schema, format="binary")
    return TableDump(str(table.name), columns, b"".join(parts))


async def _count_rows(conn: AsyncConnection, schema: str, projection: Projection) -> int:
    target = await in_schema(conn, schema)
    total = 0
    for table in _data_tables(projection):
        total += (await target.execute(sa.select(sa.func.count()).select_from(table))).scalar_one()
    return total


async def _stamps(js: JetStreamContext, positions: dict[str, int]) -> dict[str, dt.datetime]:
    """The stream time of the message at each position (a point-in-time build may start from this snapshot)."""
    stamps = {}
    for stream, position in positions.items():
        if position:
            try:
                msg = await js.get_msg(stream, position)
            except NatsError:
                continue  # aged out already: the snapshot's own time stands in
            if msg.time:
                stamps[stream] = msg.time
    return stamps


async def _covers(js: JetStreamContext, projection: Projection, positions: dict[str, int]) -> dict[str, int]:
    """Per stream, the head when the log holds none of the hub's events past its position, else the position.

    The head is read before the count: an event of the hub stored in between is counted, so the snapshot
    never claims a sequence whose event it lacks.
    """
    covers = {}
    for stream, subject in projection.streams.items():
        position = positions.get(stream, 0)
        head = (await stream_info(js, stream)).state.last_seq
        pending = await count_pending(js, stream, subject, position)
        covers[stream] = head if not pending and head > position else position
    return covers


def _age_s(info: SnapshotInfo | None) -> float:
    return max(0.0, (dt.datetime.now(dt.UTC) - info.created).total_seconds()) if info else 0.0
