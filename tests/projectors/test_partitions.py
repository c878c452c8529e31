"""Partitioned projectors: each entity on one partition, a partitioned rebuild (one process per partition)
identical to a single projector's, and a partition SIGKILLed during load losing and doubling nothing."""

from __future__ import annotations

import asyncio
import hashlib
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
import sqlalchemy as sa

from tests.projectors.crash_projector import ledger
from tests.projectors.partition_projection import projection
from vsmesh.bus.publisher import Publisher
from vsmesh.bus.splits import ensure_share, wait_share
from vsmesh.bus.streams import stream_info
from vsmesh.errors import ConfigError, VsmeshError
from vsmesh.projectors.distribution.partitioned import partitioned_replay
from vsmesh.projectors.engine.batches import in_schema, positions
from vsmesh.projectors.engine.checkpoint import read_positions
from vsmesh.projectors.engine.partitions import (
    Partition,
    fnv1a,
    hub_positions,
    needs_rebuild,
    own_positions,
    partition_of,
    router,
    share,
)
from vsmesh.projectors.rebuild.build import rebuild
from vsmesh.runtime.partitions import forked_runner, share_batch, worker_env

REPO = Path(__file__).resolve().parents[2]
SPEC = "tests.projectors.partition_projection:projection"
SERVICES = 150


def test_the_hash_is_fnv1a_as_nats_partition_takes_it():
    # FNV-1a 32-bit reference values (the hash nats-server's partition() uses), and a spread that is even.
    assert (fnv1a(""), fnv1a("a"), fnv1a("foobar")) == (0x811C9DC5, 0xE40C292C, 0xBF9CF968)
    shares = [partition_of(f"service:svc-{i:04d}", 4) for i in range(4000)]
    assert all(900 < shares.count(k) < 1100 for k in range(4))


def test_each_entity_folds_on_one_partition_and_threads_on_the_first():
    parts = [router(Partition(k, 3), frozenset({"ops-health-checked"})) for k in range(3)]
    for entity in ("service:gitea", "endpoint:gitea%2Ecoulomb%2Esocial", "_"):
        subject = f"operational.ops-hub.ops-health-checked.{entity}"
        assert [keeps(subject) for keeps in parts].count(True) == 1
    # A type keyed by something else than its subject goes to partition 0; a revert reaches every partition.
    assert [keeps("operational.ops-hub.alert-raised.service:gitea") for keeps in parts] == [True, False, False]
    assert all(keeps("constitutional.ops-hub.event-reverted.service:gitea") for keeps in parts)


def test_partition_zero_reads_the_others_threads_and_every_partition_the_others_reverts():
    keyed, threads = frozenset({"ops-health-checked"}), frozenset({"alert-raised"})
    first = share(Partition(0, 3), "OPERATIONAL", "operational.ops-hub.>", keyed, threads)
    last = share(Partition(2, 3), "OPERATIONAL", "operational.ops-hub.>", keyed, threads)
    split = "split.ops-hub.operational.3"
    assert first is not None and last is not None
    assert first.filters == (f"{split}.0.>", f"{split}.1.event-reverted", f"{split}.2.event-reverted",
                             f"{split}.1.alert-raised", f"{split}.2.alert-raised")  # fmt: skip
    assert last.filters == (f"{split}.2.>", f"{split}.0.event-reverted", f"{split}.1.event-reverted")
    # Of its own share, a partition leaves the threads to partition 0 and quarantines a type nobody knows.
    keeps = router(Partition(2, 3), keyed, threads)
    assert not keeps("operational.ops-hub.alert-raised.service:gitea")
    assert keeps("operational.ops-hub.made-up.service:gitea")
    assert share(Partition(0, 2), "OPERATIONAL", "operational.>", keyed, threads) is None


def test_a_partition_replaying_its_own_streams_folds_what_the_server_put_there():
    first, last = (projection("ops-hub").for_partition(Partition(k, 2)) for k in (0, 1))
    health = [f"operational.ops-hub.ops-health-checked.service:svc-{i}" for i in range(40)]
    alert = "operational.ops-hub.alert-raised.service:gitea"
    # Partition 0 folds every message of its share (its hash share, every thread, every revert): it checks none.
    assert first.reading_shares().keeps is None
    # Another leaves the threads the server hashed into its share to partition 0, and hashes nothing again.
    replaying = last.reading_shares().keeps
    assert replaying is not None and not replaying(alert) and all(replaying(s) for s in health)
    # Reading a horizon stream, the partition itself still picks its share by hash.
    assert last.keeps is not None and 0 < sum(map(last.keeps, health)) < len(health)
    whole = projection("ops-hub")
    assert whole.reading_shares() is whole


def test_positions_of_a_partitioned_hub():
    rows = {"OPERATIONAL": 10, "OPERATIONAL.p0of2": 40, "OPERATIONAL.p1of2": 30, "TACTICAL": 5}
    # A partition starts from the plain row until it wrote its own; the hub is as far as its slowest partition.
    assert own_positions(rows, ["OPERATIONAL", "TACTICAL"], Partition(1, 2)) == {"OPERATIONAL": 30, "TACTICAL": 5}
    assert hub_positions(rows) == {"OPERATIONAL": 30, "TACTICAL": 5}
    # A partition that has not written its row yet holds the hub back at the plain row it starts from.
    assert hub_positions({"OPERATIONAL": 10, "OPERATIONAL.p0of2": 40}) == {"OPERATIONAL": 10}
    # Another split (or none) of the same tables needs one rebuild first.
    assert not needs_rebuild(rows, Partition(0, 2)) and needs_rebuild(rows, Partition(0, 4))
    assert needs_rebuild(rows, None) and not needs_rebuild({"OPERATIONAL": 3}, Partition(0, 4))
    with pytest.raises(ConfigError, match="use 0 to 1"):
        Partition(2, 2)


def build_events(publisher: Publisher, hub: str, first: int, count: int, opened: list[str]) -> list:
    """Inventory, health, drift and changes per service (entity-keyed), with incidents whose updates name
    another service than the one they were opened on, and alerts (both threads: partition 0)."""
    out = []
    for i in range(first, first + count):
        subject = f"service/svc-{i % SERVICES:03d}"
        if i < SERVICES:
            kind, data = "ops-inventory-registered", {"kind": "service", "name": f"svc-{i:03d}", "owner": "sre"}
        elif i % 97 == 0:
            kind, data = "ops-incident-opened", {"title": f"incident {i}", "severity": "high"}
        elif i % 97 == 50 and opened:
            kind, data = "ops-incident-updated", {"incident_id": opened[-1], "status": "investigating"}
        elif i % 41 == 0:
            kind, data = "alert-raised", {"title": f"alert {i}", "severity": "high"}
        elif i % 13 == 0:
            kind, data = "ops-change-recorded", {"summary": f"change {i}", "version": str(i)}
        elif i % 7 == 0:
            kind, data = "ops-drift-detected", {"summary": f"drift {i}", "desired": {"n": i}, "actual": {"n": 0}}
        else:
            kind, data = "ops-health-checked", {"status": ("green", "amber", "red")[i % 3]}
        event = publisher.build(kind, hub=hub, subject=subject, data=data)
        if kind == "ops-incident-opened":
            opened.append(event.id)
        out.append(event)
    return out


async def digest(engine, schema: str, *, with_positions: bool) -> str:
    """Every table's rows in a fixed order (the positions table only `with_positions`)."""
    h = hashlib.sha256()
    async with engine.connect() as conn:
        conn = await in_schema(conn, schema)
        for table in projection("x").metadata.sorted_tables:
            if table.name == "vsmesh_positions" and not with_positions:
                continue
            h.update(table.name.encode())
            for row in await conn.execute(sa.select(table).order_by(*table.columns)):
                h.update(repr(tuple(row)).encode())
    return h.hexdigest()


async def drop(engine, *schemas: str) -> None:
    async with engine.begin() as conn:
        for schema in schemas:
            await conn.execute(sa.text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))


async def applied_once(engine, schema: str, expected: set[int]) -> None:
    async with engine.connect() as conn:
        seqs = [s for (s,) in await (await in_schema(conn, schema)).execute(sa.select(ledger.c.seq))]
    assert len(seqs) == len(set(seqs)), f"{len(seqs) - len(set(seqs))} events applied twice"
    assert set(seqs) == expected, f"{len(expected - set(seqs))} events never applied"


async def test_a_partitioned_rebuild_equals_a_single_projectors(bus, db, settings):
    js, publisher = bus
    hub = f"parts-{uuid.uuid4().hex[:6]}"
    one, split = projection(f"{hub}-one", reads=hub), projection(hub)
    opened: list[str] = []
    published = await publisher.publish_many(build_events(publisher, hub, 0, 2000, opened))
    try:
        # Two processes fold their shares side by side (small batches: their recent-event trims interleave).
        runner = forked_runner(settings, split, batch_size=500)
        done = await rebuild(js, db, split, batch_size=500, replay_with=partitioned_replay(runner, 2))
        await rebuild(js, db, one, batch_size=500)
        assert done.events >= len(published)
        await applied_once(db, split.schema, {p.sequence for p in published})
        # Rows and positions alike: after the swap nothing tells the two builds apart.
        assert await digest(db, split.schema, with_positions=True) == await digest(db, one.schema, with_positions=True)
    finally:
        await drop(db, one.schema, split.schema)


async def test_each_partition_of_a_rebuild_reads_only_its_share(bus, db, settings):
    js, publisher = bus
    hub = f"parts-{uuid.uuid4().hex[:6]}"
    published = await publisher.publish_many(build_events(publisher, hub, 0, 2000, []))
    runner = forked_runner(settings, projection(hub), batch_size=500)
    read: dict[int, int] = {}

    async def counted(partition: Partition, schema: str):
        done = await runner(partition, schema)
        read[partition.index] = done.messages
        return done

    try:
        await rebuild(js, db, projection(hub), batch_size=500, replay_with=partitioned_replay(counted, 2))
        # The server split the hub's events: together the partitions read each once, each about half.
        assert sum(read.values()) == len(published), read
        assert max(read.values()) < 0.7 * len(published), read
    finally:
        await drop(db, projection(hub).schema)


async def test_a_partition_folds_its_share_in_one_batch_when_one_projector_would_hold_as_much(bus, settings):
    js, publisher = bus
    hub = f"parts-{uuid.uuid4().hex[:6]}"
    await publisher.publish_many(build_events(publisher, hub, 0, 600, []))
    part = projection(hub).for_partition(Partition(1, 2))
    shares = list((part.shares or {}).values())
    for found in shares:
        await ensure_share(js, found)
        await wait_share(js, found)
    held = max([(await stream_info(js, found.name)).state.messages for found in shares])
    assert 200 < held < 600  # about half of the hub's events
    # Well under a batch and the reader's read-ahead: the whole share in one batch, each entity folded once.
    assert await share_batch(js, part, {}, 100) == held
    assert await share_batch(js, part, {}, 5_000) == 5_000
    # A resumed build reads what is left of its share: batches of the rebuild's size.
    assert await share_batch(js, part, {stream: 1 for stream in part.streams}, 100) == 100


async def test_a_failed_partition_worker_says_which_and_what_to_do(bus, settings):
    js, publisher = bus
    hub = f"parts-{uuid.uuid4().hex[:6]}"
    await publisher.publish_many(build_events(publisher, hub, 0, 50, []))
    runner = forked_runner(settings, projection(hub), batch_size=500)
    # A staging schema that is not there: the worker's first read of its positions fails, and the rebuild says so.
    with pytest.raises(
        VsmeshError, match=r"partition p1 of parts-\w+ failed: .*does not exist.*; run the rebuild again"
    ) as e:
        await runner(Partition(1, 2), f"missing_{uuid.uuid4().hex[:6]}")
    assert "\n" not in str(e.value)


def follow(hub: str, k: int, env: dict[str, str], log: Path) -> subprocess.Popen:
    cmd = [sys.executable, "-m", "vsmesh.runtime.partition_main", "follow", hub, "--index", str(k), "--count", "2",
           "--projection", SPEC]  # fmt: skip
    with log.open("ab") as err:
        return subprocess.Popen(cmd, env=env, cwd=REPO, stdout=subprocess.DEVNULL, stderr=err)


async def rows_of(engine, schema: str) -> dict[str, int]:
    try:
        async with engine.connect() as conn:
            return await read_positions(await in_schema(conn, schema), projection("x").positions)
    except sa.exc.ProgrammingError:
        return {}  # no process has created the schema yet


@pytest.mark.timeout(90)
async def test_a_partition_killed_during_load_loses_and_doubles_nothing(bus, db, settings, tmp_path):
    js, publisher = bus
    hub = f"parts-{uuid.uuid4().hex[:6]}"
    live, one = projection(hub), projection(f"{hub}-one", reads=hub)
    env = {**worker_env(settings), "VSMESH_BATCH_SIZE": "200"}  # several transactions per chunk: a kill lands mid-way
    log = tmp_path / "partitions.log"
    procs = [follow(hub, k, env, log) for k in range(2)]
    opened: list[str] = []
    published = []
    try:
        # Events arrive over time while both partitions follow; partition 1 is SIGKILLed in the middle of its work.
        published += await publisher.publish_many(build_events(publisher, hub, 0, 1000, opened))
        deadline = time.monotonic() + 30
        while (await rows_of(db, live.schema)).get("OPERATIONAL.p1of2", 0) == 0:
            assert all(p.poll() is None for p in procs), f"a partition exited: {log.read_text()[-2000:]}"
            assert time.monotonic() < deadline, "partition 1 never started working: " + log.read_text()[-2000:]
            await asyncio.sleep(0.01)
        procs[1].send_signal(signal.SIGKILL)
        procs[1].wait()
        procs[1] = follow(hub, 1, env, log)  # restarted, it takes its lease back and goes on from its own row
        for first in range(1000, 3000, 500):
            published += await publisher.publish_many(build_events(publisher, hub, first, 500, opened))
            await asyncio.sleep(0.1)
        last = max(p.sequence for p in published)
        deadline = time.monotonic() + 45
        while hub_positions(await rows_of(db, live.schema)).get("OPERATIONAL", 0) < last:
            assert all(p.poll() is None for p in procs), f"a partition exited: {log.read_text()[-2000:]}"
            assert time.monotonic() < deadline, "the partitions did not catch up"
            await asyncio.sleep(0.05)
        for p in procs:
            p.send_signal(signal.SIGTERM)
        assert [p.wait(30) for p in procs] == [0, 0], log.read_text()[-2000:]

        # Every event applied exactly once, and the tables are those of a single projector's rebuild.
        await applied_once(db, live.schema, {p.sequence for p in published})
        await rebuild(js, db, one)
        assert await digest(db, live.schema, with_positions=False) == await digest(db, one.schema, with_positions=False)
        assert (await positions(db, live, live.schema))["OPERATIONAL"] == last
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
        await drop(db, live.schema, one.schema)
