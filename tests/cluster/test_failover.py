"""Failover on a real 3-node cluster: SIGKILL the stream leader's node while events are being published."""

from __future__ import annotations

import asyncio
import dataclasses
import os
import signal
import time

from tests.cluster.conftest import cluster_env, start_up
from tests.projectors.sample import digest, read_all
from vsmesh.bus.connection import connect
from vsmesh.bus.publisher import Publisher
from vsmesh.hubs.ops.projector import projection as ops_projection
from vsmesh.projectors.engine.batches import positions
from vsmesh.projectors.engine.database import create_engine
from vsmesh.projectors.rebuild.build import rebuild
from vsmesh.runtime.cluster import start_node
from vsmesh.settings import Settings

EVENTS = 3000
CHUNK = 250
HUB = "ops-hub"


def health_events(publisher: Publisher, n: int):
    out = []
    for i in range(n):
        data = {"status": ("green", "amber", "red")[i % 3], "observations": {"i": i, "probe": "http"}}
        out.append(publisher.build("ops-health-checked", hub=HUB, subject=f"service/svc-{i % 200:03d}", data=data))
    return out


async def _wait_for(check, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = await check()
        if value:
            return value
        await asyncio.sleep(0.1)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def test_kill_the_stream_leader_while_publishing(cluster, cluster_db, capsys, tmp_path):
    env = cluster_env(cluster, cluster_db, tmp_path / "mesh")
    up = start_up(env, HUB, tmp_path / "up.log")
    try:
        report = asyncio.run(_failover(cluster, Settings.from_env(env)))
    finally:
        up.send_signal(signal.SIGTERM)
        up.wait(30)
    with capsys.disabled():
        print("\nfailover:", report)


async def _failover(cluster, settings: Settings) -> dict:
    nc = await connect(settings, name="failover-test")
    js = nc.jetstream()
    info = await js.stream_info("OPERATIONAL")
    # `vsmesh up` saw a cluster of three and made the streams replicated.
    assert info.config.num_replicas == 3
    publisher = Publisher(js, settings, source="vsmesh/test", attempts=30, ack_timeout=2.0)
    events = health_events(publisher, EVENTS)
    sent: list = []

    async def publish_steadily() -> None:
        for i in range(0, EVENTS, CHUNK):
            sent.extend(await publisher.publish_many(events[i : i + CHUNK]))
            await asyncio.sleep(0.1)

    started = time.monotonic()
    publishing = asyncio.create_task(publish_steadily())
    # Wait until a third is stored, then SIGKILL the node that leads the stream.
    await _wait_for(lambda: _at_least(sent, EVENTS // 3), 30, "a third of the events published")
    leader = (await js.stream_info("OPERATIONAL")).cluster.leader
    victim = cluster.state.node(leader)
    os.kill(victim.pid, signal.SIGKILL)
    await asyncio.to_thread(os.waitpid, victim.pid, 0)
    killed_at = len(sent)
    await asyncio.sleep(2.0)  # publishing goes on against the other two
    await asyncio.to_thread(start_node, cluster.folder, cluster.state, leader)
    await publishing
    publish_s = time.monotonic() - started

    # The restarted node catches up: every replica current, none lagging.
    async def caught_up() -> bool:
        c = (await js.stream_info("OPERATIONAL")).cluster
        peers = [c.leader] + [r.name for r in c.replicas or []]
        return (
            len(peers) == 3
            and leader in peers
            and all(r.current and not r.offline and not r.lag for r in c.replicas or [])
        )

    await _wait_for(caught_up, 30, f"{leader} to catch up")

    # Every event sent is in the stream exactly once.
    stored = await read_all(js, "OPERATIONAL", f"operational.{HUB}.>")
    ids = [m.headers["Nats-Msg-Id"] for m in stored]
    ours = {e.id for e in events}
    assert len(sent) == EVENTS
    assert {p.event_id for p in sent} == ours
    assert len(ids) == len(set(ids)), "an event id is stored twice"
    assert ours <= set(ids), f"{len(ours - set(ids))} sent events missing"
    head = stored[-1].metadata.sequence.stream

    # The live projector (in `vsmesh up`) went on and reached the head; its model equals a clean rebuild.
    live = ops_projection()
    engine = create_engine(settings)
    try:
        await _wait_for(lambda: _reached(engine, live, head), 60, "the live projector to reach the head of the stream")
        clean = dataclasses.replace(live, hub="ops-clean", streams=dict(live.streams))
        result = await rebuild(js, engine, clean)
        assert await digest(engine, live, live.schema, positions=False) == await digest(
            engine, clean, clean.schema, positions=False
        )
    finally:
        await engine.dispose()
        await nc.close()
    return {
        "sent": EVENTS,
        "stored": len(ours & set(ids)),
        "duplicates": len(ids) - len(set(ids)),
        "killed": leader,
        "killed_after": killed_at,
        "publish_s": round(publish_s, 1),
        "rebuilt": result.events,
        "new_leader": (await _leader(settings)),
    }


async def _at_least(sent: list, n: int) -> bool:
    return len(sent) >= n


async def _reached(engine, projection, head: int) -> bool:
    return (await positions(engine, projection, projection.schema)).get("OPERATIONAL", 0) >= head


async def _leader(settings: Settings) -> str:
    nc = await connect(settings, name="failover-test")
    try:
        return (await nc.jetstream().stream_info("OPERATIONAL")).cluster.leader
    finally:
        await nc.close()
