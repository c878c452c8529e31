"""500 Alertmanager webhook posts (10 alerts each) at 50/s through the gateway: post → alerts visible in ops-hub.

Starts the servers (bench/_servers.py) and `vsmesh up --hub ops-hub` (its gateway serves the hooks), registers an
Alertmanager hook, and posts version-4 payloads as Alertmanager sends them (bearer token, its headers). Each post
carries 10 alerts: 5 new and the 5 newest of the post before, as Alertmanager re-sends a whole group whenever an
alert joins it, so half of every post must be recognised as repeats. A post is visible when ops-hub's position on
OPERATIONAL reaches the highest sequence its answer names (`seq`); a poller reads the position every 1 ms.

Figures: p50/p99/max of post → visible; `stored` (alert-raised events in the stream), `unique` (distinct alerts
sent), `duplicates` (stored minus unique: target 0), `repeats` (alerts the endpoint answered as already stored).
Floor, same run: the same 10 events per post, built and published straight to NATS with vsmesh's publisher
(`publish_many`, no HTTP, no verification, no ledger), at the same rate, measured the same way.
Target: p99 <= 250 ms, duplicates 0. Last line: JSON.

    python bench/hooks.py [--posts 500] [--rate 50]
"""

from __future__ import annotations

import argparse
import asyncio
import bisect
import json
import os
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import asyncpg
import httpx
from _servers import servers
from latency import paced, percentiles, start_projector, stop_projector

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the tests' request builders (tests/sources)

from tests.sources.hooks_requests import ALERTMANAGER_HEADERS, alert, alertmanager_body, bearer  # noqa: E402
from vsmesh.bus.connection import connect  # noqa: E402
from vsmesh.bus.publisher import Publisher  # noqa: E402
from vsmesh.bus.reader import count_pending  # noqa: E402
from vsmesh.hubs.ops.projector import projection  # noqa: E402
from vsmesh.logs import configure_logging  # noqa: E402
from vsmesh.runtime.mesh_state import load_state  # noqa: E402
from vsmesh.sources.hooks.sources import source  # noqa: E402
from vsmesh.sources.hooks.store import Hooks  # noqa: E402

TARGET_P99_MS = 250.0
PER_POST = 10
NEW_PER_POST = 5
RAISED = "operational.ops-hub.alert-raised.>"

Send = Callable[[int], Awaitable[int]]  # post i → the highest OPERATIONAL sequence it stored


def cpu_s(pid: int) -> float:
    """User + system CPU seconds of process `pid` so far (from /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def alerts_of(run: str, i: int) -> list[dict]:
    """Post i's alerts: services 5i … 5i+9, so half of them were in post i-1."""
    return [alert(f"{run}-{n:05d}", name="BenchDown") for n in range(i * NEW_PER_POST, i * NEW_PER_POST + PER_POST)]


async def visible(conn: asyncpg.Connection, send: Send, posts: int, rate: float) -> list[float]:
    """Post → visible latencies: each post's start to the poller seeing ops-hub's position reach its sequence."""
    query = await conn.prepare(f'SELECT position FROM "{projection().schema}".vsmesh_positions WHERE stream = $1')
    seen_at: list[float] = []
    seen_pos: list[int] = []
    sent: list[tuple[float, int]] = []
    failures: list[BaseException] = []
    tasks: set[asyncio.Task] = set()
    sending = True

    async def poll() -> None:
        last = -1
        while True:
            position = await query.fetchval("OPERATIONAL") or 0
            if position != last:
                seen_at.append(time.perf_counter())
                seen_pos.append(position)
                last = position
            if not sending and all(position >= seq for _, seq in sent):
                return
            await asyncio.sleep(0.001)

    async def one(i: int) -> None:
        started = time.perf_counter()
        sent.append((started, await send(i)))

    def start_one(i: int) -> None:
        task = asyncio.create_task(one(i))
        tasks.add(task)
        task.add_done_callback(lambda t: (tasks.discard(t), t.exception() and failures.append(t.exception())))

    poller = asyncio.create_task(poll())
    await paced(rate, posts / rate, start_one)
    if tasks:
        await asyncio.wait(set(tasks))
    sending = False
    await asyncio.wait_for(poller, 120)
    if failures:
        raise SystemExit(f"{len(failures)} of {posts} posts failed: {failures[0]!r}")
    return [seen_at[bisect.bisect_left(seen_pos, seq)] - started for started, seq in sent]


async def measure(settings, data_dir: Path, posts: int, rate: float, mesh_pid: int) -> dict:
    am = source("alertmanager")
    hook = Hooks(data_dir).add("alertmanager", "bench", "ops-hub", am.new_secret())
    url = f"{load_state(data_dir).gateway_url}{hook.path}"
    headers = ALERTMANAGER_HEADERS | bearer(hook.secret)
    repeats = 0
    answered: list[float] = []
    nc = await connect(settings, name="bench-hooks")
    conn = await asyncpg.connect(settings.database_url)
    before = (await nc.jetstream().stream_info("OPERATIONAL")).state.last_seq
    limits = httpx.Limits(max_connections=64, max_keepalive_connections=64)
    try:
        async with httpx.AsyncClient(timeout=30, limits=limits) as http:

            async def post(i: int) -> int:
                nonlocal repeats
                t = time.perf_counter()
                answer = await http.post(url, content=alertmanager_body(alerts_of("hook", i)), headers=headers)
                answered.append(time.perf_counter() - t)
                answer.raise_for_status()
                repeats += answer.json()["duplicates"]
                return answer.json()["seq"]["OPERATIONAL"]

            await post(-1)  # the hook's identity is proven on its first delivery: not part of the run
            cpu = cpu_s(mesh_pid)
            hooked = await visible(conn, post, posts, rate)
            hooked_cpu = cpu_s(mesh_pid) - cpu
        stored = await count_pending(nc.jetstream(), "OPERATIONAL", RAISED, before)
        publisher = Publisher(nc.jetstream(), settings, source="vsmesh/bench")

        async def publish(i: int) -> int:
            translated = am.translate(hook, {}, alertmanager_body(alerts_of("raw", i)))
            events = [
                publisher.build(p.event_type, hub=p.hub, subject=p.subject, data=p.data, event_id=p.event_id)
                for p in translated.events
            ]
            return max(p.sequence for p in await publisher.publish_many(events))

        cpu = cpu_s(mesh_pid)
        floor = await visible(conn, publish, posts, rate)
        floor_cpu = cpu_s(mesh_pid) - cpu
    finally:
        await conn.close()
        await nc.close()
    unique = len({a["fingerprint"] for i in range(-1, posts) for a in alerts_of("hook", i)})
    p50, p99, worst = percentiles(hooked)
    f50, f99, fworst = percentiles(floor)
    return {
        "posts": posts, "rate": rate, "alerts_per_post": PER_POST,
        "p50_ms": round(p50, 1), "p99_ms": round(p99, 1), "max_ms": round(worst, 1),
        "stored": stored, "unique": unique, "duplicates": stored - unique, "repeats": repeats,
        "answer_p50_ms": round(percentiles(answered)[0], 1), "answer_p99_ms": round(percentiles(answered)[1], 1),
        "floor_p50_ms": round(f50, 1), "floor_p99_ms": round(f99, 1), "floor_max_ms": round(fworst, 1),
        # the `vsmesh up` process's CPU per post: the gateway's work and the projector's (the floor: projector only)
        "mesh_cpu_ms_per_post": round(hooked_cpu / posts * 1000, 2),
        "floor_mesh_cpu_ms_per_post": round(floor_cpu / posts * 1000, 2),
        "target_p99_ms": TARGET_P99_MS,
        "met": p99 <= TARGET_P99_MS and stored == unique,
    }  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--posts", type=int, default=500)
    parser.add_argument("--rate", type=float, default=50.0, help="posts per second")
    args = parser.parse_args()
    with servers() as settings, tempfile.TemporaryDirectory(prefix="vsmesh-bench-hooks-") as tmp:
        configure_logging(settings)
        data_dir = Path(tmp)
        proc = start_projector(settings, data_dir)
        try:
            result = asyncio.run(measure(settings, data_dir, args.posts, args.rate, proc.pid))
        finally:
            stop_projector(proc)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
