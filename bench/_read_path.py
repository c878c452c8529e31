"""The read path alone, with each nats-py internal on and off (bus/nats_internals.py), beside the bare read.

A rebuild spends most of its time in decoding and PostgreSQL, and on a shared machine its run-to-run
spread hides a few per cent. The internals act only on reading: this reads N stored events through
StreamReader.drain_to_head (what a rebuild reads with) in a fresh process per read, and reports its wall
rate and its CPU time per event (user + system, less swayed by neighbours than wall time), beside a bare
nats-py ordered consumer with a counting callback (the floor). Configurations interleave, every read is
printed:

    python bench/_read_path.py --events 200000 --rounds 5

With --paired, every configuration reads in one process instead, one after the other, round after
round (smaller N, more rounds), so that each round's neighbours load them alike; it reports each
configuration's CPU per event and its median difference to "internals" over the rounds:

    python bench/_read_path.py --paired --events 50000 --rounds 15
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import statistics
import subprocess
import sys
import time
import uuid

import nats
from _servers import servers

from vsmesh.bus import nats_internals
from vsmesh.bus.connection import connect
from vsmesh.bus.nats_internals import INTERNALS, public_only
from vsmesh.bus.publisher import Publisher
from vsmesh.bus.reader import Start, StreamReader
from vsmesh.bus.streams import ensure_streams
from vsmesh.logs import configure_logging
from vsmesh.settings import Settings

CONFIGS = ("bare", "", *(INTERNALS if len(INTERNALS) > 1 else ()), "all")
CHUNK = 50_000


def cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def read_bare(settings: Settings, subject: str, n: int) -> None:
    nc = await nats.connect(settings.nats_url, user=settings.nats_user, password=settings.nats_password)
    done = asyncio.get_running_loop().create_future()
    count = 0

    async def receive(msg) -> None:
        nonlocal count
        count += 1
        if count == n:
            done.set_result(None)

    sub = await nc.jetstream().subscribe(
        subject, stream="OPERATIONAL", cb=receive, ordered_consumer=True, pending_msgs_limit=-1
    )
    await asyncio.wait_for(done, 120)
    await sub.unsubscribe()
    await nc.close()


async def read_vsmesh(settings: Settings, subject: str, n: int) -> None:
    nc = await connect(settings, name="bench-read-path")
    count = 0
    async with StreamReader(nc.jetstream(), "OPERATIONAL", subject, Start(), max_queued=50_000) as reader:
        async for batch in reader.drain_to_head(1000):
            count += len(batch)
    await nc.close()
    assert count == n, f"read {count} of {n}"


async def child(config: str, hub: str, n: int) -> None:
    settings = Settings.from_env(os.environ, log_format="json", log_level="warning")
    subject = f"operational.{hub}.>"
    wall, cpu = time.perf_counter(), cpu_s()
    await (read_bare if config == "bare" else read_vsmesh)(settings, subject, n)
    wall, cpu = time.perf_counter() - wall, cpu_s() - cpu
    print(json.dumps({"rate": round(n / wall), "cpu_us_per_event": round(cpu / n * 1e6, 2)}))


def run_child(settings: Settings, config: str, hub: str, n: int) -> dict:
    env = {
        **os.environ,
        "VSMESH_NATS_PUBLIC": "" if config == "bare" else config,
        "VSMESH_NATS_URL": settings.nats_url or "",
        "VSMESH_NATS_USER": settings.nats_user or "",
        "VSMESH_NATS_PASSWORD": settings.nats_password or "",
    }
    args = [sys.executable, __file__, "--child", config, "--hub", hub, "--events", str(n)]
    out = subprocess.run(args, env=env, capture_output=True, text=True, check=False)
    if out.returncode != 0:
        raise SystemExit(f"read child {config!r} failed (exit {out.returncode}):\n{out.stderr[-2000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


async def publish(settings: Settings, n: int) -> str:
    nc = await connect(settings, name="bench-read-path-publish")
    js = nc.jetstream()
    await ensure_streams(js)
    hub = f"bench-{uuid.uuid4().hex[:6]}"
    publisher = Publisher(js, settings, source="vsmesh/bench")
    for start in range(0, n, CHUNK):
        await publisher.publish_many(
            publisher.build(
                "ops-health-checked",
                hub=hub,
                subject=f"service/svc-{i % 10_000:05d}",
                data={"status": "green", "observations": {"latency_ms": i % 997, "probe": "http"}},
            )
            for i in range(start, min(start + CHUNK, n))
        )
    await nc.close()
    return hub


def switch(config: str) -> None:
    """In this process, use the internals `config` leaves on (as VSMESH_NATS_PUBLIC=config would at import)."""
    nats_internals.PUBLIC_ONLY = public_only({"VSMESH_NATS_PUBLIC": config})


async def paired(settings: Settings, hub: str, n: int, rounds: int) -> None:
    subject = f"operational.{hub}.>"
    cpu: dict[str, list[float]] = {c: [] for c in CONFIGS}
    for i in range(1, rounds + 1):
        order = CONFIGS[i % len(CONFIGS) :] + CONFIGS[: i % len(CONFIGS)]  # each takes every place in turn
        for config in order:
            switch("" if config == "bare" else config)
            wall, used = time.perf_counter(), cpu_s()
            await (read_bare if config == "bare" else read_vsmesh)(settings, subject, n)
            wall, used = time.perf_counter() - wall, cpu_s() - used
            cpu[config].append(used / n * 1e6)
            report = {"round": i, "public": config or "internals", "rate": round(n / wall)}
            print(json.dumps({**report, "cpu_us_per_event": round(cpu[config][-1], 2)}), flush=True)
    switch("")
    for config, values in cpu.items():
        diff = [v - w for v, w in zip(values, cpu[""], strict=True)]
        print(
            f"{config or 'internals':>16}: CPU/event median {statistics.median(values):.2f} µs, "
            f"minus internals' in the same round: median {statistics.median(diff):+.2f} µs "
            f"({sum(d > 0 for d in diff)} of {len(diff)} rounds more)"
        )


def main(n: int, rounds: int, in_one_process: bool) -> None:
    with servers() as settings:
        configure_logging(settings)
        hub = asyncio.run(publish(settings, n))
        if in_one_process:
            asyncio.run(paired(settings, hub, n, rounds))
            return
        results: dict[str, list[dict]] = {c: [] for c in CONFIGS}
        for i in range(1, rounds + 1):
            for config in CONFIGS:
                report = run_child(settings, config, hub, n)
                results[config].append(report)
                print(json.dumps({"round": i, "public": config or "internals", **report}), flush=True)
    for config, reports in results.items():
        cpu = [r["cpu_us_per_event"] for r in reports]
        rate = [r["rate"] for r in reports]
        print(
            f"{config or 'internals':>16}: CPU/event median {statistics.median(cpu):.2f} µs "
            f"(all {cpu}), ev/s median {statistics.median(rate):,.0f} (all {rate})"
        )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--paired", action="store_true", help="all configurations in one process, round by round")
    parser.add_argument("--child", metavar="CONFIG", help=argparse.SUPPRESS)
    parser.add_argument("--hub", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child is not None:
        asyncio.run(child(args.child, args.hub, args.events))
    else:
        main(args.events, args.rounds, args.paired)
