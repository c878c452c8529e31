"""Revert → visible: from publishing `event-reverted` until the hub no longer shows the reverted event.

Each round publishes a green then a red health check of a fresh service, waits until ops shows red (that
wait is the floor: publish → visible for a plain event, same run, same projector), reverts the red check and
times until ops shows green again. A revert makes the live projector rebuild the hub from its log without
the reverted events and swap it in (projectors/reverts.py), so the time grows with the hub's history:
`--history` events are published first. Last line: JSON with the median, the floor and their ratio.
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
from vsmesh.hubs.ops import contract, projection
from vsmesh.logs import configure_logging
from vsmesh.projectors.database import create_engine
from vsmesh.projectors.engine import ensure_schema, in_schema
from vsmesh.projectors.runner import ProjectorStats, run_projection


async def shows(engine, ops, name: str, status: str) -> None:
    while True:
        async with engine.connect() as conn:
            s = await contract.domain_summary(await in_schema(conn, ops.schema), recent=1)
        if any(x["name"] == name and x["status"] == status for x in s["services"]):
            return
        await asyncio.sleep(0.002)


async def rounds(js, settings, n: int, history: int) -> tuple[list[float], list[float]]:
    publisher = Publisher(js, settings, source="vsmesh/bench")
    if history:
        await publisher.publish_many(
            [
                publisher.build(
                    "ops-health-checked", hub="ops-hub", subject=f"service/hist-{i % 100}", data={"status": "green"}
                )  # fmt: skip
                for i in range(history)
            ]
        )
    engine = create_engine(settings)
    stop = asyncio.Event()
    ops = projection()
    await ensure_schema(engine, ops, ops.schema)  # before asking it (a 0.5 s sleep was too short under load)
    task = asyncio.create_task(run_projection(js, engine, ops, settings, stop, ProjectorStats(ops.hub)))
    floor, revert = [], []
    try:
        for _ in range(n):
            name = f"bench-{uuid.uuid4().hex[:6]}"
            check = lambda status, name=name: publisher.build(  # noqa: E731
                "ops-health-checked", hub="ops-hub", subject=f"service/{name}", data={"status": status}
            )
            await publisher.publish(check("green"))
            await shows(engine, ops, name, "green")
            red = check("red")
            t = time.perf_counter()
            await publisher.publish(red)
            await shows(engine, ops, name, "red")
            floor.append(time.perf_counter() - t)
            reverted = publisher.build(
                "event-reverted", hub="ops-hub", subject=red.subject,
                data={"event_id": red.id, "event_type": red.type, "entity": red.subject, "reason": "bench"},
            )  # fmt: skip
            t = time.perf_counter()
            await publisher.publish(reverted)
            await shows(engine, ops, name, "green")
            revert.append(time.perf_counter() - t)
    finally:
        stop.set()
        await task
        await engine.dispose()
    return revert, floor


async def raw_refold_ms(settings, stream: str, subject: str) -> float:
    """The raw-client floor of a revert: a revert re-folds the hub from its log, so the least it can cost is a
    plain nats-py client (no vsmesh code) publishing one message and reading the hub's whole history up to it
    with an ordered push consumer, decoding nothing and writing nothing."""
    nc = await nats.connect(settings.nats_url, user=settings.nats_user, password=settings.nats_password)
    js = nc.jetstream()
    done, last = asyncio.Event(), 0

    async def read(msg) -> None:
        if msg.metadata.sequence.stream >= last:
            done.set()

    try:
        t = time.perf_counter()
        last = (await js.publish(subject.replace(">", "bench-floor.service:floor"), b"{}", stream=stream)).seq
        sub = await js.subscribe(subject, cb=read, ordered_consumer=True, deliver_policy=DeliverPolicy.ALL)
        await asyncio.wait_for(done.wait(), 60)
        took = time.perf_counter() - t
        await sub.unsubscribe()
    finally:
        await nc.close()
    return took * 1000


async def main(n: int, history: int) -> None:
    with servers() as settings:
        configure_logging(settings)
        nc = await connect(settings, name="bench")
        js = nc.jetstream()
        await ensure_streams(js)
        lat, floor_lat = await rounds(js, settings, n, history)
        raw = statistics.median(
            [await raw_refold_ms(settings, "OPERATIONAL", "operational.ops-hub.>") for _ in range(5)]
        )
        await nc.close()
    p50, floor = statistics.median(lat) * 1000, statistics.median(floor_lat) * 1000
    p95 = statistics.quantiles(lat, n=20)[-1] * 1000 if len(lat) > 1 else p50
    print(f"revert -> visible: p50 {p50:.1f} ms, p95 {p95:.1f} ms, max {max(lat) * 1000:.1f} ms over {n}")
    print(f"publish -> visible (floor): p50 {floor:.1f} ms; ops-hub history {history + 3 * n} events at most")
    print(f"raw nats-py publish + read of the hub's whole history (raw floor): p50 {raw:.1f} ms")
    print(
        json.dumps(
            {
                "metric": "revert_to_visible_ms_p50",
                "value": round(p50, 2),
                "floor": round(floor, 2),
                "ratio": round(p50 / floor, 1),
                "target_ms": 2000,
                "raw_floor": round(raw, 2),
                "raw_ratio": round(p50 / raw, 1),
            }
        )
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("-n", type=int, default=30)
    parser.add_argument("--history", type=int, default=10_000, help="ops-hub events published before the rounds")
    args = parser.parse_args()
    asyncio.run(main(args.n, args.history))
