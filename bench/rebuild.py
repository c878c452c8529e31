"""Rebuild throughput: `vsmesh` rebuild beside a naive rebuild loop, over the same stored events.

Publishes N events (~300 B: ops-health-checked over ~1000 services, plus inventory and alerts) under a
hub of the run's own, then measures
  (a) the floor: an ordered consumer read, msgspec decode, and one upsert per event with the checkpoint
      in the same transaction per batch (asyncpg executemany, no folding);
  (b) `vsmesh.projectors.rebuild.rebuild` of the ops-hub projection over those events.
Last line: JSON with the rebuild rate, the floor and their ratio.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import time
import uuid

import asyncpg
import msgspec
from _servers import servers

from vsmesh.bus.connection import connect
from vsmesh.bus.publisher import Publisher
from vsmesh.bus.streams import ensure_streams
from vsmesh.events.envelope import Event
from vsmesh.hubs.ops import projection as ops_projection
from vsmesh.logs import configure_logging
from vsmesh.projectors.database import create_engine
from vsmesh.projectors.rebuild import DEFAULT_BATCH_SIZE, rebuild

SERVICES = 1000


def events(publisher: Publisher, hub: str, n: int) -> list[Event]:
    """Mostly health checks over SERVICES services; one inventory record per service, 1% alerts."""
    out = []
    for i in range(n):
        name = f"svc-{i % SERVICES:04d}"
        if i < SERVICES:
            out.append(
                publisher.build(
                    "ops-inventory-registered",
                    hub=hub,
                    subject=f"service/{name}",
                    data={"kind": "service", "name": name, "environment": "prod", "owner": f"team-{i % 17}"},
                )
            )
        elif i % 100 == 0:
            out.append(
                publisher.build(
                    "alert-raised",
                    hub=hub,
                    subject=f"service/{name}",
                    data={"title": f"{name} latency above 500 ms", "severity": "high"},
                )
            )
        else:
            out.append(
                publisher.build(
                    "ops-health-checked",
                    hub=hub,
                    subject=f"service/{name}",
                    data={
                        "status": ("green", "green", "green", "amber", "red")[i % 5],
                        "observations": {"latency_ms": i % 997, "probe": "http"},
                    },
                )
            )
    return out


class _Floor(msgspec.Struct):
    type: str
    subject: str | None = None
    time: str = ""
    id: str = ""
    data: dict = {}


async def floor(js, database_url: str, subject: str, n: int) -> float:
    """The naive rebuild: read a batch, decode, upsert every event and the checkpoint in one transaction."""
    decoder = msgspec.json.Decoder(_Floor)
    conn = await asyncpg.connect(database_url)
    schema = f"floor_{uuid.uuid4().hex[:6]}"
    await conn.execute(
        f"CREATE SCHEMA {schema};"
        f"CREATE TABLE {schema}.services (entity text PRIMARY KEY, status text, checked_at text, seq bigint);"
        f"CREATE TABLE {schema}.positions (stream text PRIMARY KEY, position bigint)"
    )
    upsert = (
        f"INSERT INTO {schema}.services VALUES ($1, $2, $3, $4) ON CONFLICT (entity) DO UPDATE "
        "SET status = excluded.status, checked_at = excluded.checked_at, seq = excluded.seq"
    )
    checkpoint = (
        f"INSERT INTO {schema}.positions VALUES ('OPERATIONAL', $1) "
        "ON CONFLICT (stream) DO UPDATE SET position = excluded.position"
    )
    queue: asyncio.Queue = asyncio.Queue()

    async def receive(msg) -> None:
        queue.put_nowait(msg)

    sub = await js.subscribe(subject, stream="OPERATIONAL", cb=receive, ordered_consumer=True, pending_msgs_limit=-1)
    started = time.perf_counter()
    done = 0
    while done < n:
        batch = [await asyncio.wait_for(queue.get(), 5)]
        while len(batch) < 1000 and not queue.empty():
            batch.append(queue.get_nowait())
        rows = []
        for msg in batch:
            event = decoder.decode(msg.data)
            rows.append((event.subject, event.data.get("status"), event.time, msg.metadata.sequence.stream))
        async with conn.transaction():
            await conn.executemany(upsert, rows)
            await conn.execute(checkpoint, batch[-1].metadata.sequence.stream)
        done += len(batch)
    seconds = time.perf_counter() - started
    await sub.unsubscribe()
    await conn.execute(f"DROP SCHEMA {schema} CASCADE")
    await conn.close()
    return n / seconds


async def main(n: int, batch_size: int) -> None:
    with servers() as settings:
        configure_logging(settings)
        nc = await connect(settings, name="bench")
        js = nc.jetstream()
        await ensure_streams(js)
        hub = f"bench-{uuid.uuid4().hex[:6]}"
        publisher = Publisher(js, settings, source="vsmesh/bench")
        t = time.perf_counter()
        await publisher.publish_many(events(publisher, hub, n))
        print(f"published {n} events in {time.perf_counter() - t:.1f} s")
        subject = f"operational.{hub}.>"
        floor_rate = await floor(js, settings.database_url or "", subject, n)
        print(f"floor (read -> msgspec -> upsert per event, checkpoint per batch): {floor_rate:,.0f} ev/s")
        projection = dataclasses.replace(ops_projection(), hub=hub, streams={"OPERATIONAL": subject})
        engine = create_engine(settings)
        result = await rebuild(js, engine, projection, batch_size=batch_size)
        await engine.dispose()
        await nc.close()
    print(f"vsmesh rebuild: {result.events} events in {result.seconds:.2f} s = {result.rate:,.0f} ev/s")
    print(
        json.dumps(
            {
                "metric": "rebuild_events_per_s",
                "value": round(result.rate),
                "floor": round(floor_rate),
                "ratio": round(result.rate / floor_rate, 2),
            }
        )
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-n", type=int, default=100_000, help="events to publish and rebuild")
    parser.add_argument("--batch-size", type=int, default=DEFAULT_BATCH_SIZE, help="rebuild batch size")
    args = parser.parse_args()
    asyncio.run(main(args.n, args.batch_size))
