"""Partitions on the cluster: two `vsmesh up --partitions 2 --hub ops-hub` share ops-hub's work, each holding
one partition's lease, and the tables equal a single projector's rebuild."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor

import msgspec
from nats.errors import TimeoutError as NatsTimeoutError
from nats.js.errors import NotFoundError

from tests.cluster.conftest import cluster_env, start_up
from tests.cluster.test_failover import HUB, health_events
from tests.cluster.test_scale_out import lease_log
from vsmesh.bus.connection import connect
from vsmesh.bus.publisher import Publisher
from vsmesh.hubs.ops.projector import projection as ops_projection
from vsmesh.projectors.distribution.lease import LeaseEntry, current_holder, lease_bucket, lease_key
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
        settings = Settings.from_env(envs[0])
        report = asyncio.run(_shared(settings, [p.pid for p in procs]))
        # One process stops cleanly (a rolling restart): it deletes the lease it held on the way out, and the
        # other takes that lease over from the release, not from the entry expiring a TTL later.
        key, ops, report["handover_after_stop_s"] = asyncio.run(_handover(settings, *procs))
        assert procs[1].wait(30) == 0, logs[1].read_text()[-2000:]
        assert ops[-1] == f"PUT by {procs[0].pid}" and "DEL" in ops, ops  # a delete, not an expiry, came first
        # The log line follows the lease's entry: read the logs until both are written.
        deadline = time.monotonic() + 10
        while True:
            released = [x for x in lease_log(logs[1]) if x["event"] == "lease released" and x["lease"] == key]
            taken = [x for x in lease_log(logs[0]) if x["event"] == "lease acquired" and x["lease"] == key]
            # An earlier acquisition (the start, before the hand-over) is already there: wait for the one after.
            if (released and taken and taken[-1]["at"] >= released[-1]["at"]) or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        assert released and taken and taken[-1]["at"] >= released[-1]["at"], (released, taken)
        # Its candidacy went too: the other holds both partitions.
        report["all_to_one_after_stop_s"] = asyncio.run(_all_to(settings, procs[0].pid, time.monotonic()))
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
        # The mesh reacts to red checks (alerts raised on ops-hub after them): wait until the hub has applied
        # everything of its own on every stream, the same heads on two looks in a row.
        await _settled(js, engine, projection, deadline=time.monotonic() + 30)
        assert sorted(await holders(), key=str) == sorted(pids, key=str), "a lease moved while they worked"

        # The tables the two processes wrote equal a single projector's rebuild of the same log.
        await rebuild(js, engine, projection, into="single")
        try:
            diff = await diff_schemas(engine, projection, projection.schema, pit_schema("single"))
            differing = [t for t in diff.as_dict()["tables"] if t["added"] or t["removed"] or t["changed"]]
            assert diff.identical, differing
        finally:
            await drop_schema(engine, pit_schema("single"))
        return {"shared_after_s": shared_after, "events": len(published)}
    finally:
        await engine.dispose()
        await nc.close()


async def _settled(js, engine, projection, *, deadline: float) -> None:
    """Until the hub's position on each stream is its last event there, twice in a row half a second apart."""
    seen = None
    while True:
        heads = {}
        for stream, subject in projection.streams.items():
            with contextlib.suppress(NotFoundError):
                heads[stream] = (await js.get_msg(stream, subject=subject)).seq
        at = await positions(engine, projection, projection.schema)
        if all(at.get(stream, 0) >= seq for stream, seq in heads.items()):
            if heads == seen:
                return
            seen = heads
        assert time.monotonic() < deadline, f"the hub did not settle: at {at}, heads {heads}"
        await asyncio.sleep(0.5)


async def _handover(settings: Settings, keeper: subprocess.Popen, stopping: subprocess.Popen) -> tuple:
    """SIGTERM `stopping` and watch the partition lease it held until `keeper` holds it: the lease's key, what
    happened to its entry in order ("PUT by PID", "DEL", "PURGE": an expiry), and the seconds it took."""
    nc = await connect(settings, name="cluster-partitions-test")
    try:
        kv = await lease_bucket(nc.jetstream())
        [name] = [n for n in LEASES if (entry := await current_holder(kv, n)) and entry.pid == stopping.pid]
        watcher = await kv.watch(lease_key(name))
        stopped_at = time.monotonic()
        stopping.send_signal(signal.SIGTERM)
        ops: list[str] = []
        while not ops or ops[-1] != f"PUT by {keeper.pid}":
            assert time.monotonic() - stopped_at < 30, f"the lease never went to the other process: {ops}"
            with contextlib.suppress(NatsTimeoutError):
                if entry := await watcher.updates(timeout=1.0):
                    by = msgspec.json.decode(entry.value, type=LeaseEntry).pid if entry.value else None
                    ops.append(entry.operation or f"PUT by {by}")
        await watcher.stop()
        return lease_key(name), ops, round(time.monotonic() - stopped_at, 2)
    finally:
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
