"""v1 events stored in a real stream replay through the real ops-hub projection as today's version."""

import uuid

import pytest
import sqlalchemy as sa

from vsmesh.bus.connection import connect
from vsmesh.bus.reader import Start, StreamReader
from vsmesh.bus.streams import ensure_streams
from vsmesh.hubs.ops.projector import projection as ops_projection
from vsmesh.hubs.ops.tables import evidence, inventory, recent_events
from vsmesh.projectors.engine.batches import apply_batch, ensure_schema, in_schema
from vsmesh.projectors.engine.database import create_engine

V1_EVENT = (
    '{{"specversion":"1.0","id":"{id}","source":"interhub/bootstrap","type":"{type}","subject":"{subject}",'
    '"time":"2026-05-19T08:00:00Z","hub":"ops-hub","actor":"worsch","actorkind":"human","schemaversion":1,'
    '"data":{data}}}'
)


@pytest.fixture
async def js(settings):
    nc = await connect(settings)
    await ensure_streams(nc.jetstream())
    yield nc.jetstream()
    await nc.close()


@pytest.fixture
async def db(settings):
    engine = create_engine(settings)
    yield engine
    await engine.dispose()


async def publish_v1(js, event_type: str, subject: str, data: str) -> tuple[bytes, int]:
    """Publish hand-written v1 JSON, as a publisher of the v1 era did; returns the bytes and the sequence."""
    event_id = str(uuid.uuid4())
    body = V1_EVENT.format(id=event_id, type=event_type, subject=subject, data=data).encode()
    token = subject.replace("/", ":")
    ack = await js.publish(f"operational.ops-hub.{event_type}.{token}", body, headers={"Nats-Msg-Id": event_id})
    return body, ack.seq


async def read_entity(js, token: str) -> list:
    msgs = []
    async with StreamReader(js, "OPERATIONAL", f"operational.ops-hub.*.{token}", Start()) as reader:
        async for batch in reader.drain_to_head():
            msgs.extend(batch)
    return msgs


async def test_v1_events_replay_into_the_read_model_as_v2(js, db):
    name = f"gitea-{uuid.uuid4().hex[:6]}"
    subject = f"service/{name}"
    # v1 let the kind be free text; this publisher wrote Inter-Hub's widget type name.
    registered, registered_seq = await publish_v1(
        js, "ops-inventory-registered", subject, f'{{"kind":"ops-service","name":"{name}","owner":"rail"}}'
    )
    await publish_v1(js, "ops-health-checked", subject, '{"status":"amber","observations":{"latency_ms":812}}')

    # Replay them through the real ops-hub projection, in a schema of the test's own.
    projection = ops_projection()
    projection.hub = f"ops-upcast-{uuid.uuid4().hex[:8]}"
    await ensure_schema(db, projection, projection.schema)
    msgs = await read_entity(js, f"service:{name}")
    assert len(msgs) == 2
    async with db.begin() as conn:
        result = await apply_batch(await in_schema(conn, projection.schema), projection, "OPERATIONAL", msgs)
    assert result.applied == 2 and not result.rejected

    async with db.connect() as conn:
        conn = await in_schema(conn, projection.schema)
        # The service exists because its v1 kind reads as v2's `service`; its health came from v1 too.
        row = (await conn.execute(sa.select(inventory).where(inventory.c.entity == subject))).one()
        assert (row.kind, row.name, row.owner) == ("service", name, "rail")
        health = (await conn.execute(sa.select(evidence.c.status).where(evidence.c.entity == subject))).scalar_one()
        assert health == "amber"
        summaries = (
            await conn.execute(sa.select(recent_events.c.summary).where(recent_events.c.entity == subject))
        ).scalars()
        assert f"service {name} registered" in set(summaries)

    # The stream still holds the v1 bytes: upcasting happens on read, never by rewriting.
    stored = await js.get_msg("OPERATIONAL", registered_seq)
    assert stored.data == registered


async def test_a_v1_kind_outside_the_vocabulary_is_kept_as_detail(js, db):
    name = f"s3-{uuid.uuid4().hex[:6]}"
    subject = f"datastore/{name}"
    await publish_v1(js, "ops-inventory-registered", subject, f'{{"kind":"object store","name":"{name}"}}')

    projection = ops_projection()
    projection.hub = f"ops-upcast-{uuid.uuid4().hex[:8]}"
    await ensure_schema(db, projection, projection.schema)
    msgs = await read_entity(js, f"datastore:{name}")
    async with db.begin() as conn:
        result = await apply_batch(await in_schema(conn, projection.schema), projection, "OPERATIONAL", msgs)
    # Read, not quarantined: every v1 event stays readable after the vocabulary closed.
    assert result.applied == 1 and not result.rejected
    async with db.connect() as conn:
        conn = await in_schema(conn, projection.schema)
        summary = (
            await conn.execute(sa.select(recent_events.c.summary).where(recent_events.c.entity == subject))
        ).scalar_one()
        assert summary == f"other {name} registered"
        row = (await conn.execute(sa.select(inventory).where(inventory.c.entity == subject))).one()
        assert (row.kind, row.kind_detail) == ("other", "object store")
