"""Partitions on the cluster: two `vsmesh up --partitions 2 --hub ops-hub` share ops-hub's work, each holding
one partition's lease, and the tables equal a single projector's rebuild."""

from __future__ import annotations

import asyncio
import signal
import time
from concurrent.futures import ThreadPoolExecutor

from tests.cluster.conftest import cluster_env, start_up
from tests.cluster.test_failover import HUB, health_events
from vsmesh.bus.connection import connect
from vsmesh.bus.publisher import Publisher
from vsmesh.hubs.ops import projection as ops_projection
from vsmesh.projectors.distribution.lease import RENEW_S, current_holder, lease_bucket
from vsmesh.projectors.engine.batches import positions
from vsmesh.projectors.engine.database import create_engine
from vsmesh.projectors.engine.partitions import Partition
from vsmesh.projectors.rebuild.build import rebuild
from vsmesh.projectors.rebuild.copies import drop_schema, pit_schema
from vsmesh.projectors.rebuild.diff import diff_schemas
from vsmesh.settings import Settings

LEASES = [Partition(k, 2).lease(HUB) for k in range(2)]


def test_two_processes_of_two_partitions_share_the_hub(cluster, cluster_db, capsys, tmp_path):
    envs = [{**cluster_env(cluster, cluster_db, tmp_path / p), "VSMESH_PARTITIONS": "2"} for p in "ab"]
    logs = [tmp_path / "a.log", tmp_path / "b.log"]
    with ThreadPoolExecutor(2) as pool:  # started side by side: each start-up takes seconds
        started = [pool.submit(start_up, env, HUB, log) for env, log in zip(envs, logs, strict=True)]
    procs = [f.result() for f in started if f.exception() is None]
    try:
        for f in started:
            f.result()  # a start that failed fails the test, once the other one is stopped (below)
        report = asyncio.run(_shared(Settings.from_env(envs[0]), [p.pid for p in procs]))
        # One process stops cleanly (a rolling restart): the other holds both partitions within a renewal or
        # two, not a lease TTL later. Its leases and candidacy went with its stop; cancelled at once, they
        # stayed until the TTL (4 s) and the other kept its half share until then.
        stopped_at = time.monotonic()
        procs[1].send_signal(signal.SIGTERM)
        assert procs[1].wait(30) == 0, logs[1].read_text()[-2000:]
        report["all_to_one_after_stop_s"] = asyncio.run(_all_to(Settings.from_env(envs[0]), procs[0].pid, stopped_at))
        assert report["all_to_one_after_stop_s"] < 3 * RENEW_S, report  # (TTL_S is 4 RENEW_S)
    finally:
        for proc in procs:
            proc.send_signal(signal.SIGTERM)
        assert [p.wait(30) for p in procs] == [0] * len(procs), logs[-1].read_text()[-2000:]
    with capsys.disabled():
        print(f"\ncluster partitions: {report}")


async def _shared(settings: Settings, pids: list[int]) -> dict:
    nc = await connect(settings, name="cluster-partitions-test")
    js = nc.jetstream()
    kv = await lease_bucket(js)
    engine = create_engine(settings)
    projection = ops_projection()
    publisher = Publisher(js, settings, source="vsmesh/test")

    async def holders() -> list[int | None]:
        return [entry.pid if (entry := await current_holder(kv, name)) else None for name in LEASES]

    try:
        # Whichever took both partitions first hands one over once it sees the other: each holds one.
        started = time.monotonic()
        while sorted(await holders(), key=str) != sorted(pids, key=str):
            assert time.monotonic() - started < 20, f"the partitions were not shared: {await holders()} of {pids}"
            await asyncio.sleep(0.1)
        shared_after = round(time.monotonic() - started, 2)

        # Both fold their share of what arrives now; the hub is as far as its slowest partition.
        published = await publisher.publish_many(health_events(publisher, 1000))
        head = max(p.sequence for p in published)
        deadline = time.monotonic() + 30
        while (await positions(engine, projection, projection.schema)).get("OPERATIONAL", 0) < head:
            assert time.monotonic() < deadline, "the partitions did not reach the head"
            await asyncio.sleep(0.1)
        assert sorted(await holders(), key=str) == sorted(pids, key=str), "a lease moved while they worked"

        # The tables the two processes wrote equal a single projector's rebuild of the same log.
        await rebuild(js, engine, projection, into="single")
        try:
            diff = await diff_schemas(engine, projection, projection.schema, pit_schema("single"))
            assert diff.identical, diff.as_dict()
        finally:
            await drop_schema(engine, pit_schema("single"))
        return {"shared_after_s": shared_after, "events": len(published)}
    finally:
        await engine.dispose()
        await nc.close()


async def _all_to(settings: Settings, pid: int, since: float) -> float:
    """Seconds from `since` (time.monotonic) until `pid` holds every partition's lease."""
    nc = await connect(settings, name="cluster-partitions-test")
    try:
        kv = await lease_bucket(nc.jetstream())
        while [entry.pid if (entry := await current_holder(kv, n)) else None for n in LEASES] != [pid] * len(LEASES):
            assert time.monotonic() - since < 30, "the remaining process never took both partitions"
            await asyncio.sleep(0.05)
        return round(time.monotonic() - since, 2)
    finally:
        await nc.close()
