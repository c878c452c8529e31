"""Projector scale-out: two `vsmesh up --hub ops-hub` on the cluster, one projects (the lease holder);
SIGKILL it and the other takes over within seconds, never both at once."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import time
from pathlib import Path

from tests.cluster.conftest import cluster_env, start_up
from tests.cluster.test_failover import HUB, health_events
from vsmesh.bus.connection import connect
from vsmesh.bus.publisher import Publisher
from vsmesh.hubs.ops.projector import projection as ops_projection
from vsmesh.projectors.distribution.lease import TTL_S, current_holder, lease_bucket
from vsmesh.projectors.engine.batches import positions
from vsmesh.projectors.engine.database import create_engine
from vsmesh.settings import Settings


def lease_log(path: Path) -> list[dict]:
    """The projector lease lines (acquired, released, lost) a `vsmesh up` logged, in order (its timed jobs hold
    leases of their own, `job.…`)."""
    lines = []
    for raw in path.read_text().splitlines():
        try:
            line = json.loads(raw)
        except ValueError:
            continue
        if str(line.get("event", "")).startswith("lease") and str(line.get("lease", "")).startswith("projector."):
            lines.append(line)
    return lines


def test_a_standby_takes_over_when_the_active_projector_dies(cluster, cluster_db, capsys, tmp_path):
    logs = [tmp_path / "a.log", tmp_path / "b.log"]
    envs = [cluster_env(cluster, cluster_db, tmp_path / p) for p in "ab"]
    first = start_up(envs[0], HUB, logs[0])
    second = start_up(envs[1], HUB, logs[1])
    try:
        report = asyncio.run(_scenario(Settings.from_env(envs[0]), first, second))
    finally:
        for proc in (first, second):
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                proc.wait(30)
    # From the logs: the first held the lease from its start until it was killed; the second acquired
    # it only after the kill, once. So at no moment did both project.
    a, b = lease_log(logs[0]), lease_log(logs[1])
    assert [x["event"] for x in a][:1] == ["lease acquired"]
    assert not [x for x in a if x["event"].startswith("lease lost")], "the first lost its lease before it was killed"
    acquired_b = [x for x in b if x["event"] == "lease acquired"]
    assert len(acquired_b) == 1 and acquired_b[0]["at"] > report["killed_at"]
    takeover = acquired_b[0]["at"] - report["killed_at"]
    assert takeover < TTL_S + 3, f"takeover took {takeover:.1f} s"
    with capsys.disabled():
        print(f"\nscale-out: takeover {takeover:.2f} s (lease TTL {TTL_S:.0f} s); {report}")


async def _scenario(settings: Settings, first, second) -> dict:
    nc = await connect(settings, name="scale-out-test")
    js = nc.jetstream()
    kv = await lease_bucket(js)
    engine = create_engine(settings)
    projection = ops_projection()
    publisher = Publisher(js, settings, source="vsmesh/test")
    holders: set[int] = set()

    async def holder_pid() -> int | None:
        entry = await current_holder(kv, HUB)
        return entry.pid if entry else None

    async def project_to_head(n: int) -> None:
        published = await publisher.publish_many(health_events(publisher, n))
        head = max(p.sequence for p in published)
        deadline = time.monotonic() + 30
        while (await positions(engine, projection, projection.schema)).get("OPERATIONAL", 0) < head:
            assert time.monotonic() < deadline, "the projector did not reach the head"
            holders.add(await holder_pid())
            await asyncio.sleep(0.1)

    try:
        # The first started first and holds the lease; the second stands by (sampled for 3 s).
        assert await holder_pid() == first.pid
        for _ in range(30):
            holders.add(await holder_pid())
            await asyncio.sleep(0.1)
        assert holders == {first.pid}
        await project_to_head(500)

        # SIGKILL the active one: no clean release, the lease must expire.
        killed_at = time.time()
        os.kill(first.pid, signal.SIGKILL)
        await asyncio.to_thread(first.wait)
        deadline = time.monotonic() + 15
        while (pid := await holder_pid()) != second.pid:
            assert pid in (first.pid, None), f"unexpected lease holder {pid}"
            assert time.monotonic() < deadline, "no takeover in 15 s"
            await asyncio.sleep(0.05)
        seen_at = time.time()

        # The second now projects: new events reach the read model.
        await project_to_head(500)
        holders.discard(None)
        assert holders <= {first.pid, second.pid}
        return {"killed_at": killed_at, "holder_seen_after_s": round(seen_at - killed_at, 2)}
    finally:
        await engine.dispose()
        await nc.close()
