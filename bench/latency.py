"""Publish → visible in the read model under a steady offered load, beside the raw JetStream latency.

Starts the servers (bench/_servers.py) and the live ops-hub projector as its own process
(`python -m vsmesh.cli.app up --hub ops-hub`), then publishes ops-health-checked events at an offered rate
(default 1,000 events/s for 30 s; open loop: each publish starts on schedule, whether or not the previous
ones were acknowledged). Each event's publish time is kept by its stream sequence; a poller reads ops-hub's
`vsmesh_positions` row for OPERATIONAL about every millisecond, and every sequence at or below the position
it reads counts as visible at the moment the read returned.

Floor, same run: raw nats-py `js.publish` at the same rate to a stream of the bench's own, received by a
bare ordered consumer (no decoding, no PostgreSQL). Target: p99 <= 10 ms and max <= 50 ms.

Spikes: every event over 50 ms, grouped by publish time, is printed with what ran then in either process: the
`up` process keeps a record of its event loop's stalls (with the stacks sampled during them), GC pauses and slow
batches (VSMESH_STALL_LOG, runtime/stalls.py), and the bench keeps one of its own loop (its poller and publisher).
Last line: JSON with the p99, the floor's p99, their ratio, the targets, the max and the spikes.
"""

from __future__ import annotations

import argparse
import asyncio
import bisect
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import asyncpg
from _servers import process_tree_cpu, servers_and_processes
from _spikes import explain, spikes, summary
from nats.js.api import StreamConfig

from vsmesh.bus.connection import connect
from vsmesh.bus.publisher import Publisher
from vsmesh.bus.streams import ensure_streams
from vsmesh.hubs.ops.projector import projection
from vsmesh.logs import configure_logging
from vsmesh.runtime.heap import freeze_started_heap
from vsmesh.runtime.mesh_state import load_state
from vsmesh.runtime.stalls import StallLog, read_records

TARGET_MS = 10.0  # p99
MAX_TARGET_MS = 50.0  # the worst event; an event over it is a spike, printed with what ran then
FLOOR_SECONDS = 10.0  # the raw floor runs at the same rate, for at most this long
ENTITIES = 1000


def percentiles(values: list[float]) -> tuple[float, float, float]:
    """p50, p99 and max, in ms."""
    ordered = sorted(values)
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    return statistics.median(ordered) * 1000, p99 * 1000, ordered[-1] * 1000


async def paced(rate: float, seconds: float, start_one) -> int:
    """Call start_one(i) on an open-loop schedule of `rate` per second; returns how many were started."""
    loop = asyncio.get_running_loop()
    total = int(rate * seconds)
    t0 = loop.time()
    for i in range(total):
        delay = t0 + i / rate - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        start_one(i)
    return total


async def raw_floor(js, rate: float, seconds: float) -> list[float]:
    """Raw nats-py publish → bare ordered consumer receive, at the same offered rate."""
    await js.add_stream(StreamConfig(name="BENCHLAT", subjects=["benchlat.>"]))
    sent: dict[int, float] = {}
    received: dict[int, float] = {}
    everything = asyncio.Event()
    total = int(rate * seconds)

    async def receive(msg) -> None:
        received[int(msg.data)] = time.perf_counter()
        if len(received) == total:
            everything.set()

    sub = await js.subscribe("benchlat.>", stream="BENCHLAT", cb=receive, ordered_consumer=True)
    await asyncio.sleep(0.2)
    tasks = set()

    def start_one(i: int) -> None:
        sent[i] = time.perf_counter()
        task = asyncio.create_task(js.publish(f"benchlat.s{i % ENTITIES}", str(i).encode()))
        tasks.add(task)
        task.add_done_callback(tasks.discard)

    await paced(rate, seconds, start_one)
    await asyncio.wait_for(everything.wait(), 30)
    await sub.unsubscribe()
    await js.delete_stream("BENCHLAT")
    return [received[i] - sent[i] for i in range(total)]


def start_projector(settings, data_dir: Path, hub: str = "ops-hub", stall_log: Path | None = None) -> subprocess.Popen:
    """`vsmesh up --hub HUB` against the bench's servers; returns once its mesh.json says ready."""
    env = dict(os.environ)
    env.update(
        {
            "VSMESH_NATS_URL": settings.nats_url or "",
            "VSMESH_NATS_USER": settings.nats_user or "",
            "VSMESH_NATS_PASSWORD": settings.nats_password or "",
            "VSMESH_DATABASE_URL": settings.database_url or "",
            "VSMESH_DATA_DIR": str(data_dir),
            "VSMESH_LOG_FORMAT": "json",
            "VSMESH_LOG_LEVEL": "warning",
            "VSMESH_STALL_LOG": str(stall_log or ""),
        }
    )
    data_dir.mkdir(parents=True, exist_ok=True)
    log = open(data_dir / "up.log", "ab")  # noqa: SIM115 - handed to the child for its whole life
    proc = subprocess.Popen(
        [sys.executable, "-m", "vsmesh.cli.app", "up", "--hub", hub, "--no-demo"],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"`vsmesh up` exited at start (code {proc.returncode}); see {data_dir / 'up.log'}")
        state = load_state(data_dir)
        if state.ready and state.supervisor_pid == proc.pid:
            return proc
        time.sleep(0.1)
    proc.terminate()
    raise SystemExit(f"`vsmesh up` not ready in 120 s; see {data_dir / 'up.log'}")


def stop_projector(proc: subprocess.Popen) -> None:
    proc.terminate()  # SIGTERM: the mesh stops in order
    try:
        proc.wait(30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


async def visible_latencies(js, settings, rate: float, seconds: float) -> tuple[list[tuple[float, float]], int]:
    """(publish time, latency) of every published event, from its publish call to its sequence being in ops-hub's
    position; times are perf_counter's."""
    publisher = Publisher(js, settings, source="vsmesh/bench")
    conn = await asyncpg.connect(settings.database_url)
    query = await conn.prepare(f'SELECT position FROM "{projection().schema}".vsmesh_positions WHERE stream = $1')
    seen_at: list[float] = []  # when the poller saw the position move to seen_pos[k]
    seen_pos: list[int] = []
    sent: dict[int, float] = {}  # stream sequence -> publish time
    failures: list[BaseException] = []
    publishing = True

    async def poll() -> None:
        last = -1
        while True:
            position = await query.fetchval("OPERATIONAL") or 0
            now = time.perf_counter()
            if position != last:
                seen_at.append(now)
                seen_pos.append(position)
                last = position
            if not publishing and sent and position >= max(sent):
                return
            await asyncio.sleep(0.001)

    tasks = set()

    def start_one(i: int) -> None:
        event = publisher.build(
            "ops-health-checked",
            hub="ops-hub",
            subject=f"service/lat-{i % ENTITIES:04d}",
            data={"status": ("green", "amber", "red")[i % 3], "observations": {"latency_ms": i % 500}},
        )
        t = time.perf_counter()

        def done(task: asyncio.Task) -> None:
            tasks.discard(task)
            if task.exception() is not None:
                failures.append(task.exception())
            else:
                sent[task.result().sequence] = t

        task = asyncio.create_task(publisher.publish(event))
        tasks.add(task)
        task.add_done_callback(done)

    poller = asyncio.create_task(poll())
    started = time.perf_counter()
    total = await paced(rate, seconds, start_one)
    offered_for = time.perf_counter() - started
    if tasks:
        await asyncio.wait(set(tasks))
    publishing = False
    await asyncio.wait_for(poller, 60)
    await conn.close()
    if failures:
        raise SystemExit(f"{len(failures)} of {total} publishes failed: {failures[0]!r}")
    if offered_for > seconds * 1.05:
        print(f"warning: the publisher fell behind ({total} events in {offered_for:.1f} s, not {seconds:.0f} s)")
    out = []
    for seq, t in sent.items():
        k = bisect.bisect_left(seen_pos, seq)  # positions only grow
        out.append((t, max(seen_at[k] - t, 0.0)))
    return out, total


async def main(
    rate: float, seconds: float, keep: Path | None
) -> tuple[list[tuple[float, float]], list[float], int, dict[str, list], dict[str, float]]:
    """Run the floor and the measured path; their latencies, how many were offered, each process's records
    (also written to `keep`, when given, however the run ended), and the CPU per batch of `vsmesh up` and of
    PostgreSQL while the path was measured."""
    with servers_and_processes() as (settings, processes):
        configure_logging(settings)
        nc = await connect(settings, name="bench-latency")
        js = nc.jetstream()
        await ensure_streams(js)
        data_dir = Path(settings.data_dir) / "up"
        logs = {"up": data_dir / "stalls.jsonl", "bench": data_dir / "bench-stalls.jsonl"}
        proc = start_projector(settings, data_dir, stall_log=logs["up"])
        # The bench's own full collections (84-124 ms of CPU, ~121k objects) stalled its poller and publisher, and
        # showed as spikes of the path it measures: its started heap is frozen as `vsmesh up`'s is.
        own = StallLog(logs["bench"])
        own.frozen(freeze_started_heap())
        own.start(asyncio.get_running_loop())
        try:
            floor = await raw_floor(js, rate, min(seconds, FLOOR_SECONDS))
            batches = await batches_so_far(settings)
            before = process_tree_cpu(proc.pid), processes.cpu()["postgres"]
            lat, total = await visible_latencies(js, settings, rate, seconds)
            after = process_tree_cpu(proc.pid), processes.cpu()["postgres"]
        finally:
            own.stop()
            stop_projector(proc)
            await nc.close()
            records = {name: read_records(path) for name, path in logs.items()}
            if keep is not None:
                await asyncio.to_thread(keep.write_text, json.dumps(records))
        batches = await batches_so_far(settings) - batches  # its backends have exited: their counts are in
        cpu = {"batches": batches, "up_ms": (after[0] - before[0]) * 1000 / max(batches, 1)}
        if after[1] is not None and before[1] is not None:  # the poller's queries are in PostgreSQL's share
            cpu["postgres_ms"] = (after[1] - before[1]) * 1000 / max(batches, 1)
    return lat, floor, total, records, cpu


async def batches_so_far(settings) -> int:
    """How many batches ops-hub's projector has committed: each writes its position row once (PostgreSQL's
    statistics, counted when a backend ends its transaction or exits)."""
    conn = await asyncpg.connect(settings.database_url)
    try:
        found = await conn.fetchval(
            "SELECT n_tup_ins + n_tup_upd FROM pg_stat_user_tables WHERE schemaname = $1 AND relname = "
            "'vsmesh_positions'",
            projection().schema,
        )
    finally:
        await conn.close()
    return int(found or 0)


def report(lat: list[tuple[float, float]], floor: list[float], total: int, rate: float, seconds: float,
           records: dict[str, list[dict]], cpu: dict[str, float]) -> None:  # fmt: skip
    """Print the figures, the spikes with what ran then, and the JSON line."""
    p50, p99, top = percentiles([latency for _, latency in lat])
    f50, f99, ftop = percentiles(floor)
    wall = time.time() - time.perf_counter()  # perf_counter → wall clock, where the stall records live
    published = [(t + wall, latency) for t, latency in lat]
    start = min(t for t, _ in published)
    found = spikes(published, MAX_TARGET_MS)
    explain(found, records)
    print(
        f"publish -> visible in ops-hub ({total:,} events at {rate:,.0f}/s offered for {seconds:.0f} s): "
        f"p50 {p50:.1f} ms, p99 {p99:.1f} ms, max {top:.1f} ms"
    )
    print(
        f"raw publish -> ordered consumer ({len(floor):,} events): "
        f"p50 {f50:.2f} ms, p99 {f99:.2f} ms, max {ftop:.1f} ms"
    )
    for process, seen in summary(records, start, max(t + x for t, x in published)).items():
        print(f"recorded in {process} during the run: {seen}")
    if cpu.get("batches"):
        pg = f", PostgreSQL {cpu['postgres_ms']:.3f} ms (the bench's poller included)" if "postgres_ms" in cpu else ""
        print(f"{cpu['batches']:,} batches ({total / cpu['batches']:.1f} events each); CPU per batch: "
              f"`vsmesh up` {cpu['up_ms']:.3f} ms{pg}")  # fmt: skip
    for spike in found:
        print(spike.line(start))
    met = p99 <= TARGET_MS and top <= MAX_TARGET_MS
    print(f"p99 {p99:.1f} ms (target <= {TARGET_MS:.0f} ms), max {top:.1f} ms (target <= {MAX_TARGET_MS:.0f} ms): "
          f"{'OK' if met else 'MISSED'}")  # fmt: skip
    print(
        json.dumps(
            {
                "metric": "publish_to_visible_ms_p99",
                "value": round(p99, 2),
                "floor": round(f99, 2),
                "ratio": round(p99 / f99, 1) if f99 else None,
                "target": TARGET_MS,
                "p50": round(p50, 2),
                "max_ms": round(top, 2),
                "max_target": MAX_TARGET_MS,
                "spikes": [s.as_json(start) for s in found],
                "batches": cpu.get("batches"),
                "cpu_ms_per_batch": {k: round(v, 3) for k, v in cpu.items() if k.endswith("_ms")},
            }
        )
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rate", type=float, default=1000.0, help="offered events per second")
    parser.add_argument("--seconds", type=float, default=30.0, help="how long to offer that load")
    parser.add_argument("--records", type=Path, help="also write every stall, GC and batch record (JSON) here")
    args = parser.parse_args()
    lat, floor, total, records, cpu = asyncio.run(main(args.rate, args.seconds, args.records))
    report(lat, floor, total, args.rate, args.seconds, records, cpu)
