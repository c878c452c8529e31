"""Applying a batch: fold events in memory, write rows and the position in one transaction."""

from __future__ import annotations

import zlib
from dataclasses import dataclass, field

import sqlalchemy as sa
import structlog
from nats.aio.msg import Msg
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from vsmesh.bus.quarantine import Rejected
from vsmesh.errors import InvalidEvent, ProjectionError
from vsmesh.events.codec import decode_event
from vsmesh.projectors.changes import Changes
from vsmesh.projectors.checkpoint import read_positions, save_position
from vsmesh.projectors.projection import Applied, Projection

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class BatchResult:
    applied: int
    skipped: int
    position: int
    rejected: list[Rejected] = field(default_factory=list)  # invalid messages, for the quarantine


def hub_lock_key(hub: str) -> int:
    """The advisory-lock key that serialises every writer of one hub (live projector, rebuild swap)."""
    return zlib.crc32(hub.encode())


async def ensure_schema(engine: AsyncEngine, projection: Projection, schema: str) -> None:
    """Create the hub's schema and tables when missing."""
    async with engine.begin() as conn:
        await conn.execute(sa.text(f'CREATE SCHEMA IF NOT EXISTS "{schema}"'))
        await conn.run_sync(
            lambda sync: projection.metadata.create_all(
                sync.execution_options(schema_translate_map={None: schema}), checkfirst=True
            )
        )


async def in_schema(conn: AsyncConnection, schema: str) -> AsyncConnection:
    """The connection, with the hub's schema-less tables resolved to `schema`."""
    return await conn.execution_options(schema_translate_map={None: schema})


async def positions(engine: AsyncEngine, projection: Projection, schema: str) -> dict[str, int]:
    async with engine.connect() as conn:
        return await read_positions(await in_schema(conn, schema), projection.positions)


def fold(projection: Projection, stream: str, msgs: list[Msg], after: int) -> tuple[Changes, int, int, list[Rejected]]:
    """Fold the messages past `after` into changes; returns (changes, applied, skipped, rejected)."""
    changes = Changes()
    applied = skipped = 0
    rejected: list[Rejected] = []
    for msg in msgs:
        seq = msg.metadata.sequence.stream
        if seq <= after:
            continue  # already applied: a replayed or overlapping delivery
        try:
            event = decode_event(msg.data)
        except InvalidEvent as e:
            # Stays in the log untouched; the caller copies it to the quarantine with its reason.
            rejected.append(Rejected(msg, str(e)))
            skipped += 1
            continue
        handler = projection.handler_for(event.type)
        if handler is None:
            skipped += 1
            continue
        try:
            handler(event, Applied(stream, seq), changes)
        except Exception as e:
            raise ProjectionError(
                f"{event.type} handler failed: {e}",
                hub=projection.hub,
                stream=stream,
                sequence=seq,
                event_id=event.id,
            ) from e
        applied += 1
    return changes, applied, skipped, rejected


async def lock_hub(conn: AsyncConnection, hub: str) -> None:
    """Take the hub's write lock until the transaction ends."""
    await conn.execute(sa.select(sa.func.pg_advisory_xact_lock(hub_lock_key(hub))))


async def apply_batch(
    conn: AsyncConnection, projection: Projection, stream: str, msgs: list[Msg], *, lock: bool = True
) -> BatchResult:
    """Apply one batch inside the caller's transaction; the hub lock makes concurrent writers take turns."""
    if lock:
        await lock_hub(conn, projection.hub)
    after = (await read_positions(conn, projection.positions)).get(stream, 0)
    changes, applied, skipped, rejected = fold(projection, stream, msgs, after)
    last = msgs[-1].metadata.sequence.stream
    if last <= after:
        return BatchResult(0, 0, after)
    await changes.flush(conn)
    for stmt in projection.after_batch():
        await conn.execute(stmt)
    await save_position(conn, projection.positions, stream, last)
    return BatchResult(applied, skipped, last, rejected)
