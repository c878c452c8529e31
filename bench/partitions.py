"""Partitioned rebuild: 1 vs N partitions of the ops projection, beside a bare ordered-consumer read.

Publishes N events (bench/rebuild.py's mix: health checks over 10,000 services, one inventory record each,
1% alerts) under a hub of the run's own, lets the server split them (the hub's split stream of OPERATIONAL,
bus/splits.py: a sourced copy under subjects naming each event's partition; timed on its own, as
`split_s`, since a running mesh keeps it up to date as events arrive), then measures in the same run:
  (a) the floor: a bare nats-py ordered consumer reading the events (best of one read before, one after);
  (b) `rebuild` with one projector (this process);
  (c) `rebuild` with `--partitions P` (default 2): one forked process per partition (runtime/partitions.py),
      each reading only its share of the split stream, then the collapse and swap.
Each rate counts the whole rebuild (prepare, replay, swap). On a 2-core machine the partitions share the
cores with nats-server and PostgreSQL, so the speed-up is what is left after them (report it as measured).
Last line: JSON with both rates, the floor, their ratios and the speed-up (target: >= 1.4 on 2 cores).

Arithmetic for more cores, from the run's own figures: the measured speed-up s on P partitions gives the
share f of a rebuild's work that did not spread over the partitions (Amdahl: s = 1 / (f + (1 - f) / P)),
and with a core per partition N partitions would give 1 / (f + (1 - f) / N) — as long as nats-server and
PostgreSQL keep up, which this machine cannot show.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import os
import resource
import time
import uuid

import nats
from _servers import servers
from rebuild import ENTITIES, publish, raw_read

from vsmesh.bus.connection import connect
from vsmesh.bus.publisher import Publisher
from vsmesh.bus.splits import Split, ensure_split, wait_sourced
from vsmesh.bus.streams import ensure_streams
from vsmesh.hubs.ops.projector import projection as ops_projection
from vsmesh.logs import configure_logging
from vsmesh.projectors.distribution.partitioned import partitioned_replay
from vsmesh.projectors.engine.database import create_engine
from vsmesh.projectors.engine.projection import Projection
from vsmesh.projectors.rebuild.build import DEFAULT_BATCH_SIZE, rebuild
from vsmesh.runtime.partitions import forked_runner


def cpu_s() -> float:
    """CPU time of this process and of its finished children (a partitioned rebuild's forked workers)."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def projection(hub: str) -> Projection:
    """The ops-hub projection (handlers, tables, entity-keyed types) under the bench's own hub."""
    return dataclasses.replace(
        ops_projection(), hub=hub, streams={"OPERATIONAL": f"operational.{hub}.>"}, declared=None
    )


async def main(n: int, partitions: int, batch_size: int) -> None:
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
        by_server = Split("OPERATIONAL", "operational", hub, partitions)
        t = time.perf_counter()
        await ensure_split(js, by_server)
        await wait_sourced(js, by_server)
        split_s = time.perf_counter() - t
        print(
            f"split by the server into {partitions} partitions in {split_s:.1f} s = {n / split_s:,.0f} ev/s", flush=True
        )
        cpu = cpu_s()
        one = await rebuild(js, engine, projection(hub), batch_size=batch_size, fresh=True)
        one_cpu = cpu_s() - cpu
        print(f"1 projector: {one.events:,} events in {one.seconds:.2f} s = {one.rate:,.0f} ev/s, "
              f"its Python {one_cpu:.2f} s CPU", flush=True)  # fmt: skip
        runner = forked_runner(settings, projection(hub), batch_size=batch_size)
        cpu = cpu_s()
        split = await rebuild(js, engine, projection(hub), batch_size=batch_size, fresh=True,
                              replay_with=partitioned_replay(runner, partitions))  # fmt: skip
        split_cpu = cpu_s() - cpu
        print(f"{partitions} partitions: {split.events:,} events in {split.seconds:.2f} s = {split.rate:,.0f} ev/s, "
              f"their Python {split_cpu:.2f} s CPU", flush=True)  # fmt: skip
        try:
            floors.append(await raw_read(bare.jetstream(), subject, n))
            print(f"raw ordered-consumer read again: {floors[1]:,.0f} ev/s", flush=True)
        except TimeoutError:  # a machine shared with others' runs: the first read stands alone, and says so
            print("raw ordered-consumer read again: timed out; the floor is the first read's", flush=True)
        async with engine.begin() as conn:
            await conn.exec_driver_sql(f'DROP SCHEMA IF EXISTS "{projection(hub).schema}" CASCADE')
        await js.delete_stream(by_server.name)
        await bare.close()
        await engine.dispose()
        await nc.close()
    floor = max(floors)
    speedup = split.rate / one.rate
    serial = min(max(partitions / speedup - 1, 0.0) / (partitions - 1), 1.0)  # Amdahl's f from this run
    report = {
        "metric": "partitioned_rebuild_events_per_s",
        "partitions": partitions,
        "value": round(split.rate),
        "single": round(one.rate),
        "floor": round(floor),
        "ratio": round(split.rate / floor, 2),
        "single_ratio": round(one.rate / floor, 2),
        "speedup": round(speedup, 2),
        "target_speedup": 1.4,
        "split_s": round(split_s, 2),
        # Python's CPU (this process and the workers): what is left of the wall time went to nats-server,
        # PostgreSQL and whatever else shares the cores.
        "single_cpu_s": round(one_cpu, 2),
        "partitions_cpu_s": round(split_cpu, 2),
        "single_s": round(one.seconds, 2),
        "partitions_s": round(split.seconds, 2),
        "load_1m": os.getloadavg()[0],
        "events": n,
        "cores": os.cpu_count(),
        "serial_share": round(serial, 2),
        # With a core per partition (nats-server and PostgreSQL keeping up): Amdahl with this run's share.
        "predicted_speedup": {k: round(1 / (serial + (1 - serial) / k), 2) for k in (8, 32)},
    }
    print(json.dumps(report))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", "-n", type=int, default=200_000, help="events to publish and rebuild")
    parser.add_argument("--partitions", "-p", type=int, default=2, help="partitions of the partitioned rebuild")
    parser.add_argument("--batch-size", type=int, default=DEFAULT_BATCH_SIZE, help="rebuild batch size")
    args = parser.parse_args()
    asyncio.run(main(args.events, args.partitions, args.batch_size))
