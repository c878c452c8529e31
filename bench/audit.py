"""The audit's rebuild comparison: a hub compared with its log (`compare_with_log`: a copy rebuilt from the log at the
live positions, caught up and diffed under the hub's write lock, then dropped) beside a plain point-in-time copy of
the same hub from the same log (`rebuild --into`, dropped after) — the floor: the copy alone, no lock, no diff.

Publishes N events (default 100,000, ops-hub's mix from bench/rebuild.py over 10,000 services) under a hub of the
run's own, folds them into its live schema, then R rounds (--rounds, default 3) of: the floor, the comparison.
A round's ratio is the floor's seconds over the comparison's; the run's is the median round's. Also the diff alone
(`diff_schemas` of the live schema and a copy): what the comparison adds while it holds the hub's lock.
Target: ratio >= 0.6 (the comparison costs at most two thirds more than the copy it needs).
Last line: JSON with the median comparison's seconds, the floor's, the ratio and every round's, the diff's seconds
and the 1-minute load average before and after.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import os
import time
import uuid

from _servers import servers
from rebuild import ENTITIES, publish

from vsmesh.bus.connection import connect
from vsmesh.bus.publisher import Publisher
from vsmesh.bus.streams import ensure_streams
from vsmesh.hubs.ops.projector import projection as ops_projection
from vsmesh.logs import configure_logging
from vsmesh.projectors.engine.database import create_engine
from vsmesh.projectors.rebuild.build import rebuild
from vsmesh.projectors.rebuild.compare import compare_with_log
from vsmesh.projectors.rebuild.copies import drop_schema, pit_schema
from vsmesh.projectors.rebuild.diff import diff_schemas

TARGET_RATIO = 0.6


async def timed(work) -> tuple[float, object]:  # noqa: ANN001 - any awaitable
    started = time.perf_counter()
    result = await work
    return time.perf_counter() - started, result


async def main(n: int, rounds_wanted: int) -> None:
    load_before = os.getloadavg()[0]  # the machine is shared: every figure goes with the load it was taken under
    with servers() as settings:
        configure_logging(settings)
        nc = await connect(settings, name="bench-audit")
        js = nc.jetstream()
        await ensure_streams(js)
        hub = f"bench-{uuid.uuid4().hex[:6]}"
        await publish(Publisher(js, settings, source="vsmesh/bench"), hub, n)
        projection = dataclasses.replace(ops_projection(), hub=hub, streams={"OPERATIONAL": f"operational.{hub}.>"})
        engine = create_engine(settings)
        live, _ = await timed(rebuild(js, engine, projection))
        print(f"published {n:,} events over {ENTITIES:,} entities; live schema built in {live:.1f} s", flush=True)
        rounds = []
        for i in range(1, rounds_wanted + 1):
            floor, _ = await timed(rebuild(js, engine, projection, into=f"floor-{i}", fresh=True))
            copy = pit_schema(f"floor-{i}")
            diff_s, _ = await timed(diff_schemas(engine, projection, projection.schema, copy))
            await drop_schema(engine, copy)
            seconds, diff = await timed(compare_with_log(js, engine, projection, f"audit-{i}"))
            assert diff.identical, diff.as_dict()
            rounds.append({"seconds": seconds, "floor": floor, "diff_seconds": diff_s, "ratio": floor / seconds})
            print(f"round {i}: comparison {seconds:.2f} s, plain copy {floor:.2f} s (ratio {floor / seconds:.2f}); "
                  f"the diff alone {diff_s:.2f} s", flush=True)  # fmt: skip
        await engine.dispose()
        await nc.close()
    middle = sorted(rounds, key=lambda r: r["ratio"])[len(rounds) // 2]
    verdict = "OK" if middle["ratio"] >= TARGET_RATIO else "MISSED"
    print(f"ratio {middle['ratio']:.2f}, the median of {len(rounds)} rounds (target >= {TARGET_RATIO}): {verdict}")
    print(
        json.dumps(
            {
                "metric": "audit_compare_seconds",
                "value": round(middle["seconds"], 2),
                "floor": round(middle["floor"], 2),
                "ratio": round(middle["ratio"], 2),
                "round_ratios": [round(r["ratio"], 2) for r in rounds],
                "diff_seconds": round(middle["diff_seconds"], 2),
                "target": TARGET_RATIO,
                "events": n,
                "load_1m": [round(load_before, 2), round(os.getloadavg()[0], 2)],
            }
        )
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    asyncio.run(main(args.events, args.rounds))
