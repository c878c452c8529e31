"""Partitioned rebuild: 1 vs N partitions of the ops projection, beside a bare ordered-consumer read.

Publishes N events (bench/rebuild.py's mix: health checks over 10,000 services, one inventory record each,
1% alerts) under a hub of the run's own, lets the server split them (the hub's split stream of OPERATIONAL,
bus/splits.py: a sourced copy under subjects naming each event's partition, and each partition's own stream,
a mirror of it holding that partition's share; timed on its own, as `split_s`, since a running mesh keeps
them up to date as events arrive), then measures in the same run:
  (a) the floor: a bare nats-py ordered consumer reading the events (best of one read before, one after);
  (b) `rebuild` with one projector (this process);
  (c) `rebuild` with `--partitions P` (default 2): one forked process per partition (runtime/partitions.py),
      each reading only its share (its own stream), then the collapse and swap.
Each rate counts the whole rebuild (prepare, replay, swap). On a 2-core machine the partitions share the
cores with nats-server and PostgreSQL, so the speed-up is what is left after them (report it as measured).
Last line: JSON with both rates, the floor, their ratios and the speed-up (target: >= 1.4 on 2 cores).

Where the cores go: for the split and each rebuild, the CPU seconds of this Python process and its forked
workers, of nats-server, of PostgreSQL (the postmaster and every backend, ended ones included) and of the
rest of the machine (`cpu` in the JSON; the servers' only when the bench started them, bench/_servers.py).

Arithmetic from the run's own CPU figures, not from its speed-up alone:
  - `cpu_ratio`: the partitions' CPU over one projector's (Python, nats-server and PostgreSQL; the least
    swayed by other users of the machine).
  - `cpu_bound_speedup`: the best the partitions could do on this machine's cores with the CPU they used
    (Python + nats-server + PostgreSQL spread perfectly over every core): one projector's wall time over
    the partitions' CPU / cores. Below the target, the target cannot be met without spending less CPU.
  - `cpu_budget_s`: the CPU the partitions may use at most, on these cores, to reach the target speed-up.
  - `predicted_speedup` for 8 and 32 partitions, a core each and servers that keep up: one projector's
    wall time over the partitioned rebuild's serial part (its wall time outside the workers) plus the
    workers' CPU spread over k cores (a worker's fixed costs left out: a lower bound on the time);
    `server_cores` is the cores nats-server and PostgreSQL would need then, with the CPU they used in this
    run (each partition reads only its own stream, so nats-server's part does not grow with their number).
The arithmetic is printed for a person too, before the JSON line.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import multiprocessing
import os
import resource
import time
import uuid

import nats
from _servers import cpu_spent, python_cpu, servers_and_processes
from rebuild import ENTITIES, publish, raw_read

from vsmesh.bus.connection import connect
from vsmesh.bus.publisher import Publisher
from vsmesh.bus.splits import ensure_share, wait_share
from vsmesh.bus.streams import ensure_streams
from vsmesh.hubs.ops.projector import projection as ops_projection
from vsmesh.logs import configure_logging
from vsmesh.projectors.distribution.partitioned import RunPartition, partitioned_replay
from vsmesh.projectors.engine.database import create_engine
from vsmesh.projectors.engine.partitions import Partition
from vsmesh.projectors.engine.pipeline import Replayed
from vsmesh.projectors.engine.projection import Projection
from vsmesh.projectors.rebuild.build import DEFAULT_BATCH_SIZE, rebuild
from vsmesh.runtime.partitions import forked_runner

TARGET_SPEEDUP = 1.4  # 2 partitions against one projector, on 2 cores


@dataclasses.dataclass
class Workers:
    """When the first worker started and the last one answered, and the CPU they used (in the wrapped runner)."""

    started: float = 0.0
    ended: float = 0.0
    cpu_s: float = 0.0
    faults: int = 0  # the workers' minor page faults (a fork's copied pages among them)
    _cpu: float = 0.0  # Python's CPU when the first worker started
    _faults: int = 0

    def timed(self, run: RunPartition) -> RunPartition:
        async def timed_run(partition: Partition, schema: str) -> Replayed:
            if not self.started:
                self.started, self._cpu, self._faults = time.perf_counter(), python_cpu(), _child_faults()
            answer = await run(partition, schema)
            self.ended = time.perf_counter()
            return answer

        return timed_run

    async def exited(self) -> None:
        """Wait for the workers' exit, then count their CPU and faults: a worker answers before it closes its
        connections and exits, and only an exited (reaped) child's CPU shows in this process's figures."""
        await asyncio.to_thread(lambda: [child.join() for child in multiprocessing.active_children()])
        self.cpu_s, self.faults = python_cpu() - self._cpu, _child_faults() - self._faults

    @property
    def wall_s(self) -> float:
        return self.ended - self.started


def _child_faults() -> int:
    return resource.getrusage(resource.RUSAGE_CHILDREN).ru_minflt


def projection(hub: str) -> Projection:
    """The ops-hub projection (handlers, tables, entity-keyed types) under the bench's own hub."""
    return dataclasses.replace(
        ops_projection(), hub=hub, streams={"OPERATIONAL": f"operational.{hub}.>"}, declared=None
    )


async def main(n: int, partitions: int, batch_size: int) -> None:
    with servers_and_processes() as (settings, processes):
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
        shares = [s for k in range(partitions)
                  for s in (projection(hub).for_partition(Partition(k, partitions)).shares or {}).values()]  # fmt: skip
        t, before = time.perf_counter(), processes.cpu()
        for share in shares:
            await ensure_share(js, share)
        for share in shares:
            await wait_share(js, share)
        split_s = time.perf_counter() - t
        cpu = {"split": cpu_spent(before, processes.cpu(), split_s)}
        print(
            f"split by the server into {partitions} partitions in {split_s:.1f} s = {n / split_s:,.0f} ev/s", flush=True
        )
        before = processes.cpu()
        one = await rebuild(js, engine, projection(hub), batch_size=batch_size, fresh=True)
        cpu["single"] = cpu_spent(before, processes.cpu(), one.seconds)
        print(f"1 projector: {one.events:,} events in {one.seconds:.2f} s = {one.rate:,.0f} ev/s; CPU s "
              f"{cpu['single']}", flush=True)  # fmt: skip
        workers = Workers()
        runner = workers.timed(forked_runner(settings, projection(hub), batch_size=batch_size))
        before = processes.cpu()
        split = await rebuild(js, engine, projection(hub), batch_size=batch_size, fresh=True,
                              replay_with=partitioned_replay(runner, partitions))  # fmt: skip
        await workers.exited()
        cpu["partitions"] = cpu_spent(before, processes.cpu(), split.seconds)
        print(f"{partitions} partitions: {split.events:,} events in {split.seconds:.2f} s = {split.rate:,.0f} ev/s "
              f"(workers {workers.wall_s:.2f} s, {workers.cpu_s:.2f} s CPU); CPU s {cpu['partitions']}",
              flush=True)  # fmt: skip
        try:
            floors.append(await raw_read(bare.jetstream(), subject, n))
            print(f"raw ordered-consumer read again: {floors[1]:,.0f} ev/s", flush=True)
        except TimeoutError:  # a machine shared with others' runs: the first read stands alone, and says so
            print("raw ordered-consumer read again: timed out; the floor is the first read's", flush=True)
        async with engine.begin() as conn:
            await conn.exec_driver_sql(f'DROP SCHEMA IF EXISTS "{projection(hub).schema}" CASCADE')
        for name in [s.name for s in shares] + [shares[0].split.name]:
            await js.delete_stream(name)
        await bare.close()
        await engine.dispose()
        await nc.close()
    floor = max(floors)
    speedup = split.rate / one.rate
    cores = os.cpu_count() or 1
    spent = cpu["partitions"]

    def work(phase: str) -> float:  # a rebuild's own CPU: Python, nats-server, PostgreSQL
        return sum(cpu[phase].get(k, 0.0) for k in ("python", "nats", "postgres"))

    serial_s = max(split.seconds - workers.wall_s, 0.0)  # the partitioned rebuild's wall time outside the workers

    def predicted(k: int) -> float:
        return one.seconds / (serial_s + workers.cpu_s / k)

    def servers_cpu(k: int) -> float:
        # Each partition reads only its own stream (bus/splits.py), so the servers' CPU for the rebuild is
        # about what this run's partitions used, whatever their number (keeping the streams is the split's,
        # paid as events arrive: `split_s`).
        return spent.get("nats", 0.0) + spent.get("postgres", 0.0)

    report = {
        "metric": "partitioned_rebuild_events_per_s",
        "partitions": partitions,
        "value": round(split.rate),
        "single": round(one.rate),
        "floor": round(floor),
        "ratio": round(split.rate / floor, 2),
        "single_ratio": round(one.rate / floor, 2),
        "speedup": round(speedup, 2),
        "target_speedup": TARGET_SPEEDUP,
        "split_s": round(split_s, 2),
        "single_s": round(one.seconds, 2),
        "partitions_s": round(split.seconds, 2),
        "workers_s": round(workers.wall_s, 2),
        "workers_cpu_s": round(workers.cpu_s, 2),
        "workers_faults": workers.faults,
        # CPU seconds per phase: python (this process and the forked workers), nats, postgres, other (the
        # rest of the machine), busy (all of it) and the phase's wall time.
        "cpu": cpu,
        "load_1m": os.getloadavg()[0],
        "events": n,
        "cores": cores,
        "cpu_ratio": round(work("partitions") / work("single"), 2) if work("single") else None,
        "cpu_bound_speedup": round(one.seconds / (work("partitions") / cores), 2) if work("partitions") else None,
        "cpu_budget_s": round(cores * one.seconds / TARGET_SPEEDUP, 2),
        "serial_s": round(serial_s, 2),
        "predicted_speedup": {k: round(predicted(k), 2) for k in (8, 32)},
        "server_cores": {k: round(servers_cpu(k) / (one.seconds / predicted(k)), 1) for k in (8, 32)},
    }
    print(
        f"arithmetic: the partitions used {report['cpu_ratio']}x one projector's CPU (Python, nats-server, "
        f"PostgreSQL); on {cores} cores {TARGET_SPEEDUP}x needs them within {report['cpu_budget_s']} s, and with "
        f"the CPU they used the best is {report['cpu_bound_speedup']}x; with a core per partition: "
        + ", ".join(
            f"{k} cores {report['predicted_speedup'][k]}x (servers {report['server_cores'][k]} cores)" for k in (8, 32)
        ),
        flush=True,
    )
    print(json.dumps(report))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", "-n", type=int, default=200_000, help="events to publish and rebuild")
    parser.add_argument("--partitions", "-p", type=int, default=2, help="partitions of the partitioned rebuild")
    parser.add_argument("--batch-size", type=int, default=DEFAULT_BATCH_SIZE, help="rebuild batch size")
    args = parser.parse_args()
    asyncio.run(main(args.events, args.partitions, args.batch_size))
