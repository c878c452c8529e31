"""tally-hub's timed job: a tick a minute, published by whichever process holds the job's lease."""

from __future__ import annotations

import datetime as dt
import uuid

from vsmesh.bus.publisher import Publisher
from vsmesh.hubs.hub import Job, JobContext

TICKS = uuid.UUID("8a3c1e5f-2b4d-5f6a-8c9e-0d1f2a3b4c5d")


async def tick(ctx: JobContext) -> None:
    slot = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M")
    publisher = Publisher(ctx.nc.jetstream(), ctx.settings, source="tally-hub/ticker")
    event = publisher.build("tally-ticked", hub=ctx.hub, subject=None, data={"slot": slot},
                            event_id=str(uuid.uuid5(TICKS, slot)))  # fmt: skip
    await publisher.publish(event)


JOBS = (Job("tick", tick, every_s=60.0),)
