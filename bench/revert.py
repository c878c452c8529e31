"""Revert → visible: from publishing `event-reverted` until the hub no longer shows the reverted event.

`--history N` ops-hub events (health checks of 100 services) are published and projected first. Each
round then publishes a green and a red health check of a fresh service, waits until ops shows red, reverts
the red check and times until ops shows green again. ops-hub declares what its handlers key on, so the
live projector re-folds only the reverted event's entity (projectors/reverts/scoped.py): the time should
not grow with N. Floors, same run, every round: a raw floor (a raw nats-py JetStream publish plus a raw
asyncpg single-row UPDATE round trip: the least a revert needs) and publish → visible of a plain event
(the red check). Last line: JSON with p50/p99, the raw floor's p50 and their ratio, and the targets.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import time
import uuid

import asyncpg
from _servers import servers
from prometheus_client import REGISTRY

from vsmesh.bus.connection import connect
from vsmesh.bus.publisher import Publisher
from vsmesh.bus.streams import ensure_streams
from vsmesh.hubs.ops import reads
from vsmesh.hubs.ops.projector import projection
from vsmesh.logs import configure_logging
from vsmesh.projectors.engine.batches import ensure_schema, in_schema
from vsmesh.projectors.engine.database import create_engine
from vsmesh.projectors.engine.stats import ProjectorStats
from vsmesh.projectors.reverts.scoped import REFOLD_SECONDS  # imported now: runner imports it late
from vsmesh.projectors.runner import run_projection

PHASES = ("lock", "read", "write", "all")  # the scoped re-fold's phases (projectors/reverts/scoped.py)

CHUNK = 50_000  # history published in chunks: a million built events at once would hold ~1 GB


async def shows(engine, ops, name: str, status: str) -> None:
    """Wait until ops-hub answers `get_services {"name": …}` with `status` (what `vsmesh ops services` shows).

    The whole summary would do as well but costs more per look, in the projector's own event loop."""
    while True:
        async with engine.connect() as conn:
            _, found = await reads.services(await in_schema(conn, ops.schema), name=name)
        if any(x["name"] == name and x["status"] == status for x in found):
            return
        await asyncio.sleep(0.002)


async def publish_history(publisher: Publisher, history: int) -> float:
    started = time.perf_counter()
    for start in range(0, history, CHUNK):
        await publisher.publish_many(
            [
                publisher.build(
                    "ops-health-checked", hub="ops-hub", subject=f"service/hist-{i % 100}", data={"status": "green"}
                )  # fmt: skip
                for i in range(start, min(history, start + CHUNK))
            ]
        )
    return time.perf_counter() - started


async def raw_floor(js, pg: asyncpg.Connection) -> float:
    """One raw JetStream publish (acknowledged) and one single-row UPDATE round trip, back to back."""
    t = time.perf_counter()
    await js.publish("operational.bench-floor.bench-floor.x", b"{}", stream="OPERATIONAL")
    await pg.execute("UPDATE bench_floor SET n = n + 1 WHERE id = 1")
    return time.perf_counter() - t


async def rounds(js, settings, n: int, history: int) -> dict[str, list[float]]:
    publisher = Publisher(js, settings, source="vsmesh/bench")
    published_s = await publish_history(publisher, history)
    print(f"history: {history:,} ops-hub events published in {published_s:.1f} s", flush=True)
    engine = create_engine(settings)
    pg = await asyncpg.connect(settings.database_url)
    await pg.execute("CREATE TABLE IF NOT EXISTS bench_floor (id int PRIMARY KEY, n bigint NOT NULL)")
    await pg.execute("INSERT INTO bench_floor VALUES (1, 0) ON CONFLICT DO NOTHING")
    stop = asyncio.Event()
    ops = projection()
    await ensure_schema(engine, ops, ops.schema)  # before the first read (the projector would, a moment later)
    task = asyncio.create_task(run_projection(js, engine, ops, settings, stop, ProjectorStats(ops.hub)))
    out: dict[str, list[float]] = {"revert": [], "visible": [], "raw": [], **{p: [] for p in PHASES}}
    try:
        for i in range(n):
            name = f"bench-{uuid.uuid4().hex[:6]}"
            check = lambda status, name=name: publisher.build(  # noqa: E731
                "ops-health-checked", hub="ops-hub", subject=f"service/{name}", data={"status": status}
            )
            t = time.perf_counter()
            await publisher.publish(check("green"))
            await shows(engine, ops, name, "green")
            if i == 0:
                print(f"projector caught up with the history in {time.perf_counter() - t:.1f} s", flush=True)
            out["raw"].append(await raw_floor(js, pg))
            red = check("red")
            t = time.perf_counter()
            await publisher.publish(red)
            await shows(engine, ops, name, "red")
            out["visible"].append(time.perf_counter() - t)
            reverted = publisher.build(
                "event-reverted", hub="ops-hub", subject=red.subject,
                data={"event_id": red.id, "event_type": red.type, "entity": red.subject, "reason": "bench"},
            )  # fmt: skip
            before = refold_seconds(ops.hub)
            t = time.perf_counter()
            await publisher.publish(reverted)
            await shows(engine, ops, name, "green")
            out["revert"].append(time.perf_counter() - t)
            after = refold_seconds(ops.hub)
            for phase in PHASES:
                out[phase].append(after[phase] - before[phase])
    finally:
        stop.set()
        await task
        await pg.close()
        await engine.dispose()
    return out


def refold_seconds(hub: str) -> dict[str, float]:
    """The scoped re-folds' seconds so far, per phase (the projector runs in this process)."""
    found = {
        p: REGISTRY.get_sample_value(f"{REFOLD_SECONDS.describe()[0].name}_sum", {"hub": hub, "phase": p})
        for p in PHASES
    }
    return {p: v or 0.0 for p, v in found.items()}


def pct(values: list[float], q: int) -> float:
    """The q-th percentile in ms (inclusive method: with 50 rounds p99 lies between the two largest)."""
    if len(values) < 2:
        return values[0] * 1000
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1] * 1000


async def main(n: int, history: int) -> None:
    with servers() as settings:
        configure_logging(settings)
        nc = await connect(settings, name="bench")
        js = nc.jetstream()
        await ensure_streams(js)
        got = await rounds(js, settings, n, history)
        await nc.close()
    lat, raw, visible = got["revert"], got["raw"], got["visible"]
    p50, p99, raw50, raw99 = pct(lat, 50), pct(lat, 99), pct(raw, 50), pct(raw, 99)
    print(f"revert -> visible: p50 {p50:.1f} ms, p99 {p99:.1f} ms, max {max(lat) * 1000:.1f} ms over {n} rounds")
    print(f"raw floor (js.publish + single-row UPDATE): p50 {raw50:.2f} ms, p99 {raw99:.2f} ms")
    print(f"publish -> visible of a plain event: p50 {pct(visible, 50):.1f} ms, p99 {pct(visible, 99):.1f} ms")
    scoped = [i for i, s in enumerate(got["all"]) if s > 0]
    print(f"scoped re-folds: {len(scoped)} of {n} rounds (the others re-folded the whole hub)")
    if scoped:
        phase_p50 = {p: round(pct([got[p][i] for i in scoped], 50), 1) for p in PHASES}
        rest = [lat[i] - got["all"][i] for i in scoped]
        print(
            f"re-fold phases p50 (ms): {phase_p50}; the rest (revert published, projector notices it, reader"
            f" sees the row) p50 {pct(rest, 50):.1f} ms"
        )
    print(
        json.dumps(
            {
                "metric": "revert_to_visible_ms",
                "history": history,
                "p50": round(p50, 1),
                "p99": round(p99, 1),
                "floor_p50": round(raw50, 2),
                "ratio_p50": round(p50 / raw50, 1),
                "plain_visible_p50": round(pct(visible, 50), 1),
                "target_p50_ms": 50,
                "target_p99_ms": 200,
            }
        )
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("-n", type=int, default=50, help="rounds (each times one revert)")
    parser.add_argument("--history", type=int, default=10_000, help="ops-hub events published before the rounds")
    args = parser.parse_args()
    asyncio.run(main(args.n, args.history))
