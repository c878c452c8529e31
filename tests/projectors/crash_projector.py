"""A projector process for the crash test: the real live runner with the ops-hub handlers, under a hub of
its own, plus a ledger table that records every event it applies (so duplicates and gaps can be counted).

Run as `python -m tests.projectors.crash_projector HUB [READY_FILE]` with the `VSMESH_*` variables of a mesh; it
creates READY_FILE once SIGTERM stops it cleanly (before that, a SIGTERM kills it like SIGKILL).
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path

import sqlalchemy as sa

from vsmesh.bus.connection import connect
from vsmesh.events.envelope import Event
from vsmesh.hubs.ops.projector import projection as ops_projection
from vsmesh.logs import configure_logging
from vsmesh.projectors.engine.changes import Changes
from vsmesh.projectors.engine.database import create_engine
from vsmesh.projectors.engine.projection import Applied, Handler, Projection
from vsmesh.projectors.engine.stats import ProjectorStats
from vsmesh.projectors.runner import run_projection
from vsmesh.settings import Settings

metadata = sa.MetaData()
ledger = sa.Table(
    "ledger",
    metadata,
    # No key on purpose: an event applied twice shows up as two rows instead of a refused insert.
    sa.Column("stream", sa.Text, nullable=False),
    sa.Column("seq", sa.BigInteger, nullable=False),
    sa.Column("event_id", sa.Text, nullable=False),
)


def _traced(handler: Handler) -> Handler:
    def apply(event: Event, at: Applied, changes: Changes) -> None:
        handler(event, at, changes)
        changes.insert(ledger, {"stream": at.stream, "seq": at.sequence, "event_id": event.id})

    return apply


def traced_projection(hub: str, *, reads: str | None = None) -> Projection:
    """The ops-hub projection as hub `hub`, reading the events published for hub `reads` (default: itself)."""
    ops = ops_projection()
    for table in ops.metadata.tables.values():
        if table.name not in metadata.tables:
            table.to_metadata(metadata)
    return Projection(
        hub=hub,
        streams={"OPERATIONAL": f"operational.{reads or hub}.>"},
        metadata=metadata,
        handlers={event_class: _traced(h) for event_class, h in ops.handlers.items()},
        after_batch=ops.after_batch,
    )


async def main(hub: str, ready: str | None = None) -> None:
    settings = Settings.from_env(os.environ)
    configure_logging(settings)
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    if ready:
        await asyncio.to_thread(Path(ready).touch)
    nc = await connect(settings, name=f"crash-projector-{hub}")
    engine = create_engine(settings)
    try:
        projection = traced_projection(hub)
        await run_projection(nc.jetstream(), engine, projection, settings, stop, ProjectorStats(hub))
    finally:
        await engine.dispose()
        await nc.close()


if __name__ == "__main__":
    asyncio.run(main(*sys.argv[1:3]))
