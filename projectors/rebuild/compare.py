"""Does a hub's live schema still equal its log? A copy rebuilt from the log at the live hub's positions,
compared with the live schema table by table (the rebuild diff), then dropped.

What the audit asks of every hub, without reading a hub's tables itself: the live hub keeps answering while the
copy is built; only the last step — bringing the copy to where the live hub is now, and diffing — holds the
hub's write lock, so the live projector applies nothing in between and a difference is never a race.
"""

from __future__ import annotations

import structlog
from nats.js import JetStreamContext
from sqlalchemy.ext.asyncio import AsyncEngine

from vsmesh.projectors.engine.batches import lock_hub, positions
from vsmesh.projectors.engine.checkpoint import read_positions
from vsmesh.projectors.engine.driver import in_schema
from vsmesh.projectors.engine.partitions import hub_positions
from vsmesh.projectors.engine.pipeline import Until
from vsmesh.projectors.engine.projection import Projection
from vsmesh.projectors.rebuild.build import DEFAULT_BATCH_SIZE, catch_up, rebuild
from vsmesh.projectors.rebuild.copies import drop_schema, pit_schema
from vsmesh.projectors.rebuild.diff import SchemaDiff, diff_on

log = structlog.get_logger(__name__)


async def compare_with_log(
    js: JetStreamContext,
    engine: AsyncEngine,
    projection: Projection,
    name: str,
    *,
    batch_size: int = DEFAULT_BATCH_SIZE,
) -> SchemaDiff:
    """The live schema against a copy rebuilt from the log (`old`: live, `new`: the copy); the copy, the
    point-in-time copy `name`, is dropped whatever happens."""
    live = await positions(engine, projection, projection.schema)
    # Never past the live hub: a copy ahead of a lagging projector would show its lag as differences.
    until = Until(seq={stream: live.get(stream, 0) for stream in projection.streams})
    copy = pit_schema(name)
    await drop_schema(engine, copy)  # a copy an interrupted audit left
    try:
        built = await rebuild(js, engine, projection, into=name, until=until, fresh=True, batch_size=batch_size)
        async with engine.connect() as conn:  # closed without a commit: the lock ends, the copy is dropped next
            await lock_hub(conn, projection.hub)
            now = hub_positions(await read_positions(await in_schema(conn, projection.schema), projection.positions))
            upto = Until(seq={stream: now.get(stream, 0) for stream in projection.streams})
            await catch_up(js, conn, projection, copy, built.positions, batch_size, upto)
            diff = await diff_on(conn, projection, projection.schema, copy)
    finally:
        await drop_schema(engine, copy)
    log.info("hub compared with its log", hub=projection.hub, identical=diff.identical, positions=now)
    return diff
