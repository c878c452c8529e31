"""Partitioned rebuild: 1 vs N partitions of the ops projection, beside a bare ordered-consumer read.

Publishes N events (bench/rebuild.py's mix: health checks over 10,000 services, one inventory record each,
1% alerts) under a hub of the run's own, then measures in the same run:
  (a) the floor: a bare nats-py ordered consumer reading the events (best of one read before, one after);
  (b) `rebuild` with one projector (this process);
  (c) `rebuild` with `--partitions P` (default 2): one `vsmesh.runtime.partition_main replay` process per
      partition, each reading all of the hub's messages and folding its share, then the collapse and swap.
Each rate counts the whole rebuild (prepare, replay, swap). On a 2-core machine the partitions share the
cores with nats-server and PostgreSQL, so the speed-up is what is left after them (report it as measured).
Last line: JSON with both rates, the floor, their ratios and the speed-up.

Design arithmetic for more partitions than this machine has cores, printed from the run's own ratio r (one
projector's rate over the raw floor: the share of a projector's cost per event that is reading, since every
partition still reads every message of the hub). With a core per partition, N partitions that each read
everything and fold 1/N speed a rebuild up by 1 / (r + (1 - r) / N), bounded by 1/r; a server-side split
(a stream per partitioned hub, sourced with the `partition(N, 4)` subject transform, each partition reading
only its share) would give N, until nats-server or PostgreSQL saturate, at the price of a second copy of
the hub's events. With r = 0.3 (this machine, loaded): 2.58x for 8 and 3.11x for 32 reading everything
against 8x and 32x split by the server; with r = 0.6 (quiet): 1.54x and 1.63x. So the server-side split
pays from a few partitions on, on machines with the cores; on this 2-core machine no split can show it.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import os
import time
import uuid
from pathlib import Path

import nats
from _servers import servers
from rebuild import ENTITIES, publish, raw_read

from vsmesh.bus.connection import connect
from vsmesh.bus.publisher import Publisher
from vsmesh.bus.streams import ensure_streams
from vsmesh.hubs.ops.projector import projection as ops_projection
from vsmesh.logs import configure_logging
from vsmesh.projectors.distribution.partitioned import partitioned_replay
from vsmesh.projectors.engine.database import create_engine
from vsmesh.projectors.engine.projection import Projection
from vsmesh.projectors.rebuild.build import DEFAULT_BATCH_SIZE, rebuild
from vsmesh.runtime.partitions import process_runner

SPEC = "partitions:projection"  # the workers import this module (bench/ on their PYTHONPATH)


def projection(hub: str) -> Projection:
    """The ops-hub projection (handlers, tables, entity-keyed types) under the bench's own hub."""
    return dataclasses.replace(
        ops_projection(), hub=hub, streams={"OPERATIONAL": f"operational.{hub}.>"}, declared=None
    )


async def main(n: int, partitions: int, batch_size: int) -> None:
    os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(Path(__file__).parent), os.environ.get("PYTHONPATH")]))
    with servers() as settings:
        configure_logging(settings)
        nc = await connect(settings, name="bench")
        js = nc.jetstream()
        await ensure_streams(js)
        engine = create_engine(settings)
        hub = f"bench-{uuid.uuid4().hex[:6]}"
        t = time.perf_counter()
        await publish(Publisher(js, settings, source="vsmesh/bench"), hub, n)
        print(f"published {n:,} events over {ENTITIES:,} entities in {time.perf_counter() - t:.1f} s", flush=True)
        subject = f"operational.{hub}.>"
        bare = await nats.connect([u.strip() for u in (settings.nats_url or "").split(",")],
                                  user=settings.nats_user, password=settings.nats_password)  # fmt: skip
        floors = [await raw_read(bare.jetstream(), subject, n)]
        print(f"raw ordered-consumer read: {floors[0]:,.0f} ev/s", flush=True)
        one = await rebuild(js, engine, projection(hub), batch_size=batch_size, fresh=True)
        print(f"1 projector: {one.events:,} events in {one.seconds:.2f} s = {one.rate:,.0f} ev/s", flush=True)
        runner = process_runner(settings, hub, batch_size=batch_size, projection=SPEC)
        split = await rebuild(js, engine, projection(hub), batch_size=batch_size, fresh=True,
                              replay_with=partitioned_replay(runner, partitions))  # fmt: skip
        print(f"{partitions} partitions: {split.events:,} events in {split.seconds:.2f} s = {split.rate:,.0f} ev/s")
        try:
            floors.append(await raw_read(bare.jetstream(), subject, n))
            print(f"raw ordered-consumer read again: {floors[1]:,.0f} ev/s", flush=True)
        except TimeoutError:  # a machine shared with others' runs: the first read stands alone, and says so
            print("raw ordered-consumer read again: timed out; the floor is the first read's", flush=True)
        async with engine.begin() as conn:
            await conn.exec_driver_sql(f'DROP SCHEMA IF EXISTS "{projection(hub).schema}" CASCADE')
        await bare.close()
        await engine.dispose()
        await nc.close()
    floor = max(floors)
    report = {
        "metric": "partitioned_rebuild_events_per_s",
        "partitions": partitions,
        "value": round(split.rate),
        "single": round(one.rate),
        "floor": round(floor),
        "ratio": round(split.rate / floor, 2),
        "single_ratio": round(one.rate / floor, 2),
        "speedup": round(split.rate / one.rate, 2),
        "events": n,
        "cores": os.cpu_count(),
        # With a core per partition, each reading every message (the docstring: a server-side split gives up to N).
        "predicted_speedup_reading_all": {
            k: round(1 / (one.rate / floor + (1 - one.rate / floor) / k), 2) for k in (8, 32)
        },
    }
    print(json.dumps(report))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", "-n", type=int, default=200_000, help="events to publish and rebuild")
    parser.add_argument("--partitions", "-p", type=int, default=2, help="partitions of the partitioned rebuild")
    parser.add_argument("--batch-size", type=int, default=DEFAULT_BATCH_SIZE, help="rebuild batch size")
    args = parser.parse_args()
    asyncio.run(main(args.events, args.partitions, args.batch_size))
