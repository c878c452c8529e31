"""Publish → visible in `summary`: the latency a person sees, beside the raw JetStream round trip.

Floor: a plain nats-py client publishes to the stream and its own ordered consumer receives it (no vsmesh
code, no decoding, no PostgreSQL). Last line: JSON with the median latency, the floor and their ratio.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import time
import uuid

import nats
from _servers import servers
from nats.js.api import DeliverPolicy

from vsmesh.bus.connection import connect
from vsmesh.bus.publisher import Publisher
from vsmesh.bus.streams import ensure_streams
from vsmesh.hubs.ops import reads
from vsmesh.hubs.ops.projector import projection
from vsmesh.logs import configure_logging
from vsmesh.projectors.engine.batches import ensure_schema, in_schema
from vsmesh.projectors.engine.database import create_engine
from vsmesh.projectors.engine.stats import ProjectorStats
from vsmesh.projectors.runner import run_projection


async def raw_round_trips(settings, n: int) -> list[float]:
    """The floor with nothing of vsmesh in it: a plain nats-py client (its own connection, its own JetStream
    context) publishes and its ordered push consumer hands the message over (vsmesh's reader skips nats-py's
    queue through bus/nats_internals.py, so it was no floor)."""
    nc = await nats.connect(settings.nats_url, user=settings.nats_user, password=settings.nats_password)
    js = nc.jetstream()
    subject = "operational.bench-hub.ops-health-checked.service:floor"
    arrived: asyncio.Queue = asyncio.Queue()
    sub = await js.subscribe(subject, cb=arrived.put, ordered_consumer=True, deliver_policy=DeliverPolicy.NEW)
    out = []
    try:
        for _ in range(n):
            t = time.perf_counter()
            await js.publish(subject, b'{"status":"green"}')
            await asyncio.wait_for(arrived.get(), 5)
            out.append(time.perf_counter() - t)
    finally:
        await sub.unsubscribe()
        await nc.close()
    return out


async def summary_latencies(js, settings, n: int) -> list[float]:
    publisher = Publisher(js, settings, source="vsmesh/bench")
    engine = create_engine(settings)
    stop = asyncio.Event()
    ops = projection()
    await ensure_schema(engine, ops, ops.schema)  # before asking it (a 0.5 s sleep was too short under load)
    task = asyncio.create_task(run_projection(js, engine, ops, settings, stop, ProjectorStats(ops.hub)))
    out = []
    try:
        for i in range(n):
            name = f"bench-{uuid.uuid4().hex[:6]}"
            status = ("green", "amber", "red")[i % 3]
            t = time.perf_counter()
            await publisher.publish(
                publisher.build("ops-health-checked", hub="ops-hub", subject=f"service/{name}", data={"status": status})
            )
            while True:
                async with engine.connect() as conn:
                    s = await reads.domain_summary(await in_schema(conn, ops.schema), recent=1)
                if any(x["name"] == name and x["status"] == status for x in s["services"]):
                    break
                await asyncio.sleep(0.001)
            out.append(time.perf_counter() - t)
    finally:
        stop.set()
        await task
        await engine.dispose()
    return out


async def main(n: int) -> None:
    with servers() as settings:
        configure_logging(settings)
        nc = await connect(settings, name="bench")
        js = nc.jetstream()
        await ensure_streams(js)
        floor = statistics.median(await raw_round_trips(settings, n)) * 1000
        lat = await summary_latencies(js, settings, n)
        await nc.close()
    p50, p95 = statistics.median(lat) * 1000, statistics.quantiles(lat, n=20)[-1] * 1000
    print(f"publish -> summary: p50 {p50:.1f} ms, p95 {p95:.1f} ms, max {max(lat) * 1000:.1f} ms over {n}")
    print(f"raw nats-py publish -> ordered consumer: p50 {floor:.2f} ms")
    print(
        json.dumps(
            {
                "metric": "publish_to_summary_ms_p50",
                "value": round(p50, 2),
                "floor": round(floor, 2),
                "ratio": round(p50 / floor, 1),
                "target_ms": 1000,
            }
        )
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("-n", type=int, default=200)
    asyncio.run(main(parser.parse_args().n))
