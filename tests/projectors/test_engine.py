"""The engine: positions committed with rows, replays never apply twice, rebuild matches live."""

import asyncio
import hashlib
import uuid

import pytest
import sqlalchemy as sa

from vsmesh.bus.connection import connect
from vsmesh.bus.publisher import Publisher
from vsmesh.bus.reader import Start, StreamReader
from vsmesh.bus.streams import ensure_streams
from vsmesh.hubs.ops import projection as ops_projection
from vsmesh.hubs.ops.tables import recent_events, services
from vsmesh.projectors.database import create_engine
from vsmesh.projectors.engine import apply_batch, ensure_schema, in_schema, positions
from vsmesh.projectors.projection import Projection
from vsmesh.projectors.rebuild import rebuild


def isolated(projection: Projection) -> Projection:
    """The ops-hub projection under a hub name of the test's own, so its schema is private."""
    projection.hub = f"ops-test-{uuid.uuid4().hex[:8]}"
    return projection


@pytest.fixture
async def bus(settings):
    nc = await connect(settings)
    await ensure_streams(nc.jetstream())
    yield nc.jetstream(), Publisher(nc.jetstream(), settings)
    await nc.close()


@pytest.fixture
async def db(settings):
    engine = create_engine(settings)
    yield engine
    await engine.dispose()


async def digest(engine, projection: Projection, schema: str) -> str:
    """A digest of every table's rows, in key order: equal digests mean identical read models."""
    h = hashlib.sha256()
    async with engine.connect() as conn:
        conn = await in_schema(conn, schema)
        for table in projection.metadata.sorted_tables:
            if table.name == "vsmesh_positions":
                continue
            rows = await conn.execute(sa.select(table).order_by(*table.primary_key.columns))
            for row in rows:
                h.update(repr(tuple(row)).encode())
    return h.hexdigest()


async def read_all(js, stream: str, subject: str) -> list:
    msgs = []
    async with StreamReader(js, stream, subject, Start()) as reader:
        async for batch in reader.drain_to_head():
            msgs.extend(batch)
    return msgs


async def test_replayed_batch_is_not_applied_twice(bus, db):
    js, publisher = bus
    projection = isolated(ops_projection())
    await ensure_schema(db, projection, projection.schema)
    entity = f"service/once-{uuid.uuid4().hex[:6]}"
    for status in ("green", "red"):
        await publisher.publish(
            publisher.build("ops-health-checked", hub="ops-hub", subject=entity, data={"status": status})
        )
    msgs = await read_all(js, "OPERATIONAL", "operational.ops-hub.>")
    for _ in range(2):  # the same batch delivered twice, as after a crash before the ack
        async with db.begin() as conn:
            await apply_batch(await in_schema(conn, projection.schema), projection, "OPERATIONAL", msgs)
    async with db.connect() as conn:
        conn = await in_schema(conn, projection.schema)
        count = await conn.execute(
            sa.select(sa.func.count()).select_from(recent_events).where(recent_events.c.entity == entity)
        )
        assert count.scalar_one() == 2
        status = await conn.execute(sa.select(services.c.status).where(services.c.entity == entity))
        assert status.scalar_one() == "red"
    assert (await positions(db, projection, projection.schema))["OPERATIONAL"] == msgs[-1].metadata.sequence.stream


async def test_rebuild_equals_live_and_the_hub_answers_throughout(bus, db):
    js, publisher = bus
    projection = isolated(ops_projection())
    await ensure_schema(db, projection, projection.schema)
    events = [
        publisher.build(
            "ops-health-checked",
            hub="ops-hub",
            subject=f"service/s{i % 7}",
            data={"status": ("green", "amber", "red")[i % 3]},
        )
        for i in range(300)
    ]
    await publisher.publish_many(events)
    msgs = await read_all(js, "OPERATIONAL", "operational.ops-hub.>")
    for start in range(0, len(msgs), 97):  # live: many small batches
        async with db.begin() as conn:
            await apply_batch(
                await in_schema(conn, projection.schema), projection, "OPERATIONAL", msgs[start : start + 97]
            )
    live = await digest(db, projection, projection.schema)

    errors: list[Exception] = []
    stop = asyncio.Event()

    async def keep_asking() -> int:
        asked = 0
        while not stop.is_set():
            try:
                async with db.connect() as conn:
                    conn = await in_schema(conn, projection.schema)
                    n = (await conn.execute(sa.select(sa.func.count()).select_from(services))).scalar_one()
                    assert n >= 7, "the hub answered with an emptied table"
            except Exception as e:  # noqa: BLE001 - every failure is the finding
                errors.append(e)
            asked += 1
            await asyncio.sleep(0)
        return asked

    asker = asyncio.create_task(keep_asking())
    result = await rebuild(js, db, projection, batch_size=50)
    stop.set()
    asked = await asker
    assert not errors, errors[:3]
    assert asked > 0
    assert result.events == len(msgs)
    assert await digest(db, projection, projection.schema) == live
