"""Crash safety: a projector process SIGKILLed again and again while 40,000 events stream in ends with
exactly the tables of a clean rebuild, every event applied once and every invalid one quarantined once."""

from __future__ import annotations

import asyncio
import hashlib
import os
import random
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
import sqlalchemy as sa

from tests.projectors.crash_projector import ledger, traced_projection
from vsmesh.bus.connection import connect
from vsmesh.bus.publisher import Published, Publisher
from vsmesh.bus.quarantine import ORIGIN_SEQ
from vsmesh.bus.reader import Start, StreamReader
from vsmesh.bus.streams import ensure_streams
from vsmesh.events.envelope import new_event_id
from vsmesh.projectors.engine.batches import in_schema, positions
from vsmesh.projectors.engine.database import create_engine
from vsmesh.projectors.engine.projection import Projection
from vsmesh.projectors.rebuild.build import rebuild

EVENTS = 40_000
CHUNK = 2_000
SERVICES = 1_000
INVALID = 20
KILLS = 10
REPO = Path(__file__).resolve().parents[2]


def build_events(publisher: Publisher, hub: str, first: int, count: int) -> list:
    """Health checks over SERVICES services, one inventory record each, and an alert every 500 events."""
    out = []
    for i in range(first, first + count):
        subject = f"service/svc-{i % SERVICES:04d}"
        if i < SERVICES:
            event_type, data = "ops-inventory-registered", {"kind": "service", "name": f"svc-{i:04d}", "owner": "sre"}
        elif i % 500 == 0:
            event_type, data = "alert-raised", {"title": f"alert {i}", "severity": "high"}
        else:
            event_type, data = "ops-health-checked", {"status": ("green", "amber", "red")[i % 3]}
        out.append(publisher.build(event_type, hub=hub, subject=subject, data=data))
    return out


async def stream_in(js, publisher: Publisher, hub: str) -> tuple[list[Published], list[int]]:
    """Publish EVENTS valid events in chunks (so they arrive over time) and INVALID broken ones among them."""
    published: list[Published] = []
    invalid: list[int] = []
    for first in range(0, EVENTS, CHUNK):
        published += await publisher.publish_many(build_events(publisher, hub, first, CHUNK))
        if len(invalid) < INVALID:
            subject = f"operational.{hub}.ops-health-checked.service:broken"
            broken = b'{"type": "ops-health-checked", "data": 42}'
            ack = await js.publish(subject, broken, headers={"Nats-Msg-Id": new_event_id()})
            invalid.append(ack.seq)
        await asyncio.sleep(0.3)
    return published, invalid


def last_sequence(streamed: tuple[list[Published], list[int]]) -> int:
    published, invalid = streamed
    return max(max(p.sequence for p in published), max(invalid))


def spawn(hub: str, env: dict[str, str], log: Path, ready: Path | None = None) -> subprocess.Popen:
    with open(log, "ab") as err:
        return subprocess.Popen(
            [sys.executable, "-m", "tests.projectors.crash_projector", hub, *([str(ready)] if ready else [])],
            env={**os.environ, **env, "VSMESH_LOG_LEVEL": "warning"},
            cwd=REPO,
            stdout=subprocess.DEVNULL,
            stderr=err,
        )


async def position(engine, projection: Projection) -> int:
    try:
        return (await positions(engine, projection, projection.schema)).get("OPERATIONAL", 0)
    except sa.exc.ProgrammingError:
        return 0  # the first process has not created the schema yet


async def digest(engine, projection: Projection, schema: str) -> str:
    """Every table's rows (positions included) in a fixed order: equal digests, identical read models."""
    h = hashlib.sha256()
    async with engine.connect() as conn:
        conn = await in_schema(conn, schema)
        for table in projection.metadata.sorted_tables:
            rows = await conn.execute(sa.select(table).order_by(*table.columns))
            h.update(table.name.encode())
            for row in rows:
                h.update(repr(tuple(row)).encode())
    return h.hexdigest()


async def quarantined_origins(js, hub: str) -> list[int]:
    seqs = []
    async with StreamReader(js, "QUARANTINE", f"quarantine.operational.{hub}.>", Start()) as reader:
        async for batch in reader.drain_to_head():
            seqs += [int(m.headers[ORIGIN_SEQ]) for m in batch]
    return seqs


@pytest.mark.timeout(120)
async def test_sigkilled_projector_ends_identical_to_a_clean_rebuild(settings, mesh_env, tmp_path):
    hub = f"crash-{uuid.uuid4().hex[:6]}"
    seed = random.randrange(1 << 30)
    rng = random.Random(seed)
    nc = await connect(settings)
    js = nc.jetstream()
    await ensure_streams(js)
    engine = create_engine(settings)
    projection = traced_projection(hub)
    log = tmp_path / "projector.log"
    started = time.monotonic()
    try:
        # Events stream in while a projector process is killed at random moments and restarted.
        publishing = asyncio.create_task(stream_in(js, Publisher(js, settings, source="vsmesh/crash-test"), hub))
        kills = 0
        while kills < KILLS or not publishing.done():
            if publishing.done() and await position(engine, projection) >= last_sequence(publishing.result()):
                break  # caught up: nothing left to interrupt
            proc = spawn(hub, mesh_env, log)
            before = await position(engine, projection)
            deadline = time.monotonic() + 30
            # Kill only once the process works (its position moves), at a random moment after that.
            while await position(engine, projection) == before:
                assert proc.poll() is None, f"projector exited ({proc.returncode}): {log.read_text()[-2000:]}"
                assert time.monotonic() < deadline, "the restarted projector made no progress"
                await asyncio.sleep(0.02)
            await asyncio.sleep(rng.uniform(0.0, 0.4))
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            kills += 1
        published, invalid = await publishing
        last = last_sequence((published, invalid))
        assert kills >= KILLS // 2, f"only {kills} kills landed before the projector caught up"

        # A last run catches up and stops cleanly: once it can (the killed ones may have caught up already, and a
        # SIGTERM during its start would kill it before it listens for one).
        ready = tmp_path / "ready"
        proc = spawn(hub, mesh_env, log, ready)
        deadline = time.monotonic() + 60
        while await position(engine, projection) < last or not ready.exists():
            assert proc.poll() is None, f"projector exited ({proc.returncode}): {log.read_text()[-2000:]}"
            assert time.monotonic() < deadline, "the projector did not catch up"
            await asyncio.sleep(0.05)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(30) == 0, log.read_text()[-2000:]

        # Every valid event applied exactly once: no duplicates, no gaps.
        async with engine.connect() as conn:
            conn = await in_schema(conn, projection.schema)
            seqs = [s for (s,) in await conn.execute(sa.select(ledger.c.seq))]
        expected = {p.sequence for p in published}
        duplicates = len(seqs) - len(set(seqs))
        gaps = expected - set(seqs)
        assert duplicates == 0 and not gaps and set(seqs) == expected

        # Every invalid event quarantined exactly once, although batches were cut short by kills.
        assert sorted(await quarantined_origins(js, hub)) == sorted(invalid)

        # The survivor's tables are byte for byte those of a clean rebuild from the log.
        clean = traced_projection(f"{hub}-clean", reads=hub)
        await rebuild(js, engine, clean)
        assert await digest(engine, projection, projection.schema) == await digest(engine, clean, clean.schema)
        print(
            f"\ncrash test (seed {seed}): {kills} SIGKILLs, {len(expected)} events, {len(invalid)} quarantined, "
            f"{duplicates} duplicates, {len(gaps)} gaps, {time.monotonic() - started:.1f} s"
        )
    finally:
        for schema in (projection.schema, f"{projection.schema}_clean"):
            async with engine.begin() as conn:
                await conn.execute(sa.text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        await engine.dispose()
        await nc.close()
