"""Rebuild: replay a hub's streams into a fresh schema while the live one serves, then swap in one transaction."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass

import sqlalchemy as sa
import structlog
from nats.js import JetStreamContext
from sqlalchemy.ext.asyncio import AsyncEngine

from vsmesh.bus.reader import Start, StreamReader
from vsmesh.projectors.engine import apply_batch, ensure_schema, in_schema, lock_hub
from vsmesh.projectors.projection import Projection

log = structlog.get_logger(__name__)

Progress = Callable[[int, int], None]  # (events read, events to read)


@dataclass(frozen=True)
class RebuildResult:
    hub: str
    events: int
    seconds: float
    positions: dict[str, int]

    @property
    def rate(self) -> float:
        return self.events / self.seconds if self.seconds else 0.0


async def _drop_schema(engine: AsyncEngine, schema: str) -> None:
    async with engine.begin() as conn:
        await conn.execute(sa.text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))


async def rebuild(
    js: JetStreamContext,
    engine: AsyncEngine,
    projection: Projection,
    *,
    batch_size: int = 2000,
    progress: Progress = lambda done, total: None,
) -> RebuildResult:
    """Rebuild `projection`'s hub from the log; the live schema answers until the final swap."""
    live = projection.schema
    target = f"{live}__rebuild"
    started = time.perf_counter()
    await _drop_schema(engine, target)  # a leftover of an interrupted rebuild is never trusted
    await ensure_schema(engine, projection, target)
    positions: dict[str, int] = {}
    done = 0
    async with contextlib.AsyncExitStack() as stack:
        readers = [
            await stack.enter_async_context(StreamReader(js, stream, subject, Start()))
            for stream, subject in projection.streams.items()
        ]
        total = sum([await r.pending() for r in readers])
        progress(0, total)
        for reader in readers:
            async for batch in reader.drain_to_head(batch_size):
                async with engine.begin() as conn:
                    result = await apply_batch(
                        await in_schema(conn, target), projection, reader.stream, batch, lock=False
                    )
                positions[reader.stream] = result.position
                done += len(batch)
                progress(done, max(total, done))
        async with engine.begin() as conn:
            # Under the hub lock the live projector waits: catch up what arrived meanwhile, then swap.
            await lock_hub(conn, projection.hub)
            target_conn = await in_schema(conn, target)
            for reader in readers:
                async for batch in reader.catch_up(batch_size):
                    result = await apply_batch(target_conn, projection, reader.stream, batch, lock=False)
                    positions[reader.stream] = result.position
                    done += len(batch)
            await conn.execute(sa.text(f'DROP SCHEMA IF EXISTS "{live}__old" CASCADE'))
            await conn.execute(
                sa.text(
                    f"DO $$ BEGIN IF EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = '{live}') THEN "
                    f'ALTER SCHEMA "{live}" RENAME TO "{live}__old"; END IF; END $$'
                )
            )
            await conn.execute(sa.text(f'ALTER SCHEMA "{target}" RENAME TO "{live}"'))
            await conn.execute(sa.text(f'DROP SCHEMA IF EXISTS "{live}__old" CASCADE'))
    progress(done, done)
    result = RebuildResult(projection.hub, done, time.perf_counter() - started, positions)
    log.info("rebuild swapped in", hub=projection.hub, events=done, seconds=round(result.seconds, 2))
    return result
