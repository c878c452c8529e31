"""Rebuild throughput: `vsmesh rebuild` of the ops projection beside a bare ordered-consumer read of the same events.

Publishes N events (default 1,000,000, ~300 B: ops-health-checked over 10,000 services, one inventory
record per service, 1% alerts) under a hub of the run's own, then measures, in the same run, R rounds
(--rounds, default 3) of:
  (a) the floor: a bare nats-py ordered consumer reading the same events off the stream (no decoding,
      no PostgreSQL), read before the first round and after every round;
  (b) `vsmesh.projectors.rebuild.build.rebuild` of the ops-hub projection over those events, in a child process
      (bench/_rebuild_child.py) so its peak RSS is the rebuild's own, not the publisher's.
A round's ratio is its rebuild's rate over the better of the two floor reads either side of it; the run's
ratio is the median round's. Why rounds: on a quiet 2-core machine the floor alone varies far more from one
run to the next than the rebuild does (same code, same N), so one rebuild against reads taken minutes apart
swung the ratio by nearly half (docs/performance.md §Rebuild). A rebuild beside the reads right around it
compares the machine with itself; the better read of the two keeps the floor on the high side.
Target: ratio >= 0.8 at 200k and at 1M events; the rebuild's peak RSS under 300 MB and flat in N.
With --naive-floor, also times a naive rebuild loop (read, msgspec, one upsert per event) for reference.
Last line: JSON with the median rebuild rate and floor, the ratio and every round's, the target,
peak_rss_mb (the largest of the rounds), the CPU per event, the replay's batches and seconds (beside the
whole rebuild's), the median round's phases (seconds of prepare, replay, finish: the fixed cost is the first
and the last) and the 1-minute load average before and after.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import msgspec
import nats
from _servers import servers

from vsmesh.bus.connection import connect
from vsmesh.bus.publisher import Publisher
from vsmesh.bus.streams import ensure_streams
from vsmesh.events.envelope import Event
from vsmesh.logs import configure_logging
from vsmesh.projectors.rebuild.build import DEFAULT_BATCH_SIZE

ENTITIES = 10_000
CHUNK = 50_000  # events per publish_many call: it keeps what it sent until acked, so the publisher stays small
TARGET_RATIO = 0.8  # a rebuild at >= 80% of a bare read of the same events (was 0.6, 0.5; docs/performance.md §Rebuild)
RSS_LIMIT_MB = 300


def events(publisher: Publisher, hub: str, n: int) -> Iterator[Event]:
    """Mostly health checks over ENTITIES services; one inventory record per service first, 1% alerts."""
    for i in range(n):
        name = f"svc-{i % ENTITIES:05d}"
        if i < ENTITIES:
            yield publisher.build(
                "ops-inventory-registered",
                hub=hub,
                subject=f"service/{name}",
                data={"kind": "service", "name": name, "environment": "prod", "owner": f"team-{i % 17}"},
            )
        elif i % 100 == 0:
            yield publisher.build(
                "alert-raised",
                hub=hub,
                subject=f"service/{name}",
                data={"title": f"{name} latency above 500 ms", "severity": "high"},
            )
        else:
            yield publisher.build(
                "ops-health-checked",
                hub=hub,
                subject=f"service/{name}",
                data={
                    "status": ("green", "green", "green", "amber", "red")[i % 5],
                    "observations": {"latency_ms": i % 997, "probe": "http"},
                },
            )


async def publish(publisher: Publisher, hub: str, n: int) -> None:
    generated = events(publisher, hub, n)
    while chunk := list(itertools.islice(generated, CHUNK)):
        await publisher.publish_many(chunk)


async def raw_read(js, subject: str, n: int) -> float:
    """The floor: a bare nats-py ordered consumer reading the n stored events of `subject`."""
    done = asyncio.get_running_loop().create_future()
    count = 0

    async def receive(msg) -> None:
        nonlocal count
        count += 1
        if count == n and not done.done():
            done.set_result(time.perf_counter())

    started = time.perf_counter()
    sub = await js.subscribe(subject, stream="OPERATIONAL", cb=receive, ordered_consumer=True, pending_msgs_limit=-1)
    finished = await asyncio.wait_for(done, timeout=max(60, n / 5_000))
    await sub.unsubscribe()
    return n / (finished - started)


class _Naive(msgspec.Struct):
    type: str
    subject: str | None = None
    time: str = ""
    id: str = ""
    data: dict = {}


async def naive_rebuild(js, database_url: str, subject: str, n: int) -> float:
    """A naive rebuild loop: read a batch, decode, upsert every event and the checkpoint in one transaction."""
    decoder = msgspec.json.Decoder(_Naive)
    conn = await asyncpg.connect(database_url)
    schema = f"naive_{uuid.uuid4().hex[:6]}"
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


async def rebuild_in_child(settings, hub: str, batch_size: int, profile: str | None, py_spy: str | None) -> dict:
    """Run bench/_rebuild_child.py against the same servers; its last stdout line is its JSON report."""
    env = dict(os.environ)
    env.update(
        {
            "VSMESH_NATS_URL": settings.nats_url or "",
            "VSMESH_NATS_USER": settings.nats_user or "",
            "VSMESH_NATS_PASSWORD": settings.nats_password or "",
            "VSMESH_DATABASE_URL": settings.database_url or "",
            "VSMESH_DATA_DIR": str(settings.data_dir),
        }
    )
    child = Path(__file__).with_name("_rebuild_child.py")
    # py-spy samples the child from outside (~1% overhead at its default rate), unlike cProfile's 2-3x.
    spy = [str(Path(sys.executable).with_name("py-spy")), "record", "--format", "raw", "-o", py_spy, "--"]
    proc = await asyncio.create_subprocess_exec(
        *(spy if py_spy else []),
        sys.executable,
        str(child),
        "--hub",
        hub,
        "--batch-size",
        str(batch_size),
        *(["--profile", profile] if profile else []),
        env=env,
        stdout=asyncio.subprocess.PIPE,
    )
    out, _ = await proc.communicate()
    if proc.returncode != 0:
        raise SystemExit(f"rebuild child failed (exit {proc.returncode})")
    # The last JSON line: a py-spy wrapper prints its own lines after the child's.
    return json.loads(next(line for line in reversed(out.decode().splitlines()) if line.startswith("{")))


def _phases(child: dict) -> str:
    """The rebuild's steps, e.g. `prepare 0.05 + replay 2.20 + finish 0.10 s`."""
    return " + ".join(f"{name} {s:.2f}" for name, s in child["phases"].items()) + " s"


async def main(
    n: int, rounds_wanted: int, batch_size: int, naive: bool, profile: str | None, py_spy: str | None
) -> None:
    load_before = os.getloadavg()[0]  # the machine is shared: every figure goes with the load it was taken under
    with servers() as settings:
        configure_logging(settings)
        nc = await connect(settings, name="bench")
        js = nc.jetstream()
        await ensure_streams(js)
        hub = f"bench-{uuid.uuid4().hex[:6]}"
        publisher = Publisher(js, settings, source="vsmesh/bench")
        t = time.perf_counter()
        await publish(publisher, hub, n)
        print(f"published {n:,} events over {ENTITIES:,} entities in {time.perf_counter() - t:.1f} s", flush=True)
        subject = f"operational.{hub}.>"
        # The floor reads with nats-py exactly as shipped, not through vsmesh's client (bus/connection.py).
        servers_ = [u.strip() for u in (settings.nats_url or "").split(",")]  # a cluster is a list
        bare = await nats.connect(servers_, user=settings.nats_user, password=settings.nats_password)
        floors = [await raw_read(bare.jetstream(), subject, n)]
        print(f"raw ordered-consumer read: {floors[0]:,.0f} ev/s", flush=True)
        rounds = []
        for i in range(1, rounds_wanted + 1):
            child = await rebuild_in_child(settings, hub, batch_size, profile, py_spy)
            floors.append(await raw_read(bare.jetstream(), subject, n))
            floor = max(floors[-2:])  # the better of the reads either side of this rebuild
            rounds.append({**child, "floor": floor, "ratio": child["rate"] / floor})
            print(
                f"round {i}: vsmesh rebuild (child process) {child['events']:,} events ({child['batches']} "
                f"batches) in {child['seconds']:.2f} s = {child['rate']:,.0f} ev/s, "
                f"{child['cpu_us_per_event']:.1f} µs CPU/event; {_phases(child)}; "
                f"peak RSS {child['peak_rss_mb']:.0f} MB "
                f"({child['rss_at_start_mb']:.0f} MB after imports; ru_maxrss {child['ru_maxrss_mb']:.0f} MB, "
                f"which on Linux includes the parent's RSS at fork); raw read after it {floors[-1]:,.0f} ev/s: "
                f"ratio {rounds[-1]['ratio']:.2f}",
                flush=True,
            )
        if naive:
            naive_rate = await naive_rebuild(js, settings.database_url or "", subject, n)
            print(f"naive rebuild loop (read, msgspec, upsert per event, checkpoint per batch): {naive_rate:,.0f} ev/s")
        await bare.close()
        await nc.close()
    middle = sorted(rounds, key=lambda r: r["ratio"])[len(rounds) // 2]
    peak_rss = max(r["peak_rss_mb"] for r in rounds)
    ok = middle["ratio"] >= TARGET_RATIO and peak_rss < RSS_LIMIT_MB
    verdict = "OK" if ok else "MISSED"
    print(
        f"ratio {middle['ratio']:.2f}, the median of {len(rounds)} rounds (target >= {TARGET_RATIO}), "
        f"peak RSS {peak_rss:.0f} MB (limit {RSS_LIMIT_MB}): {verdict}"
    )
    print(
        json.dumps(
            {
                "metric": "rebuild_events_per_s",
                "value": middle["rate"],
                "floor": round(middle["floor"]),
                "ratio": round(middle["ratio"], 2),
                "round_ratios": [round(r["ratio"], 2) for r in rounds],
                "floors": [round(f) for f in floors],
                "target": TARGET_RATIO,
                "peak_rss_mb": peak_rss,
                "cpu_us_per_event": [r["cpu_us_per_event"] for r in rounds],
                "events": n,
                "batches": middle["batches"],
                "replay_seconds": middle["replay_seconds"],
                "seconds": middle["seconds"],
                "phases": middle["phases"],
                "load_1m": [round(load_before, 2), round(os.getloadavg()[0], 2)],
            }
        )
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", "-n", type=int, default=1_000_000, help="events to publish and rebuild")
    parser.add_argument("--rounds", type=int, default=3, help="rebuilds, each between two raw reads")
    parser.add_argument("--batch-size", type=int, default=DEFAULT_BATCH_SIZE, help="rebuild batch size")
    parser.add_argument("--naive-floor", action="store_true", help="also time a naive upsert-per-event rebuild loop")
    parser.add_argument("--profile", metavar="FILE", help="cProfile the rebuild into FILE (slows it down)")
    parser.add_argument("--py-spy", metavar="FILE", help="sample the rebuild with py-spy into FILE (collapsed stacks)")
    args = parser.parse_args()
    asyncio.run(main(args.events, args.rounds, args.batch_size, args.naive_floor, args.profile, args.py_spy))
