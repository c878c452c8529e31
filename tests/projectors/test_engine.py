"""The engine: positions committed with rows, replays never apply twice, COPY writes what executemany writes,
and readers deliver every message once, in order, however they are paced or filtered."""

import asyncio

import pytest
import sqlalchemy as sa

from tests.projectors.sample import digest, entities, health_events, ledger_seqs, read_all, sample_projection
from vsmesh.bus.nats_internals import delivers_directly
from vsmesh.bus.reader import Start, StreamReader, subject_matches
from vsmesh.projectors.engine import driver
from vsmesh.projectors.engine.batches import apply_batch, ensure_schema, in_schema, positions
from vsmesh.projectors.engine.bulk import COPY_THRESHOLD


async def apply_in_batches(db, projection, msgs, size: int) -> None:
    """Apply as the live projector does: each batch in a transaction asyncpg runs (projectors/engine/driver.py)."""
    for start in range(0, len(msgs), size):
        async with driver.transaction(db, projection.schema) as conn:
            await apply_batch(conn, projection, "OPERATIONAL", msgs[start : start + size])


async def test_replayed_batch_is_not_applied_twice(bus, db):
    js, publisher = bus
    projection = sample_projection()
    await ensure_schema(db, projection, projection.schema)
    await publisher.publish_many(health_events(publisher, projection.hub, 2, entities_count=1))
    msgs = await read_all(js, "OPERATIONAL", f"operational.{projection.hub}.>")
    # The same batch delivered twice, as after a crash before the commit was acknowledged.
    await apply_in_batches(db, projection, msgs, 2)
    await apply_in_batches(db, projection, msgs, 2)
    assert len(await ledger_seqs(db, projection.schema)) == 2
    async with db.connect() as conn:
        conn = await in_schema(conn, projection.schema)
        assert (await conn.execute(sa.select(entities.c.status))).scalar_one() == "amber"
    assert (await positions(db, projection, projection.schema))["OPERATIONAL"] == msgs[-1].metadata.sequence.stream


async def test_copy_and_merge_write_exactly_what_executemany_writes(bus, db):
    js, publisher = bus
    hub = sample_projection().hub
    many = 3 * COPY_THRESHOLD
    await publisher.publish_many(health_events(publisher, hub, 4 * many, entities_count=many, alerts_every=7))
    msgs = await read_all(js, "OPERATIONAL", f"operational.{hub}.>")
    # The same events, once in batches big enough for COPY + merge, once in batches small enough for executemany.
    big, small = sample_projection(f"{hub}-big", reads=hub), sample_projection(f"{hub}-small", reads=hub)
    for projection, size in ((big, len(msgs)), (small, COPY_THRESHOLD // 4)):
        await ensure_schema(db, projection, projection.schema)
        await apply_in_batches(db, projection, msgs, size)
    assert await digest(db, big, big.schema) == await digest(db, small, small.schema)


async def test_a_paced_reader_pauses_and_resumes_without_gaps_or_repeats(bus):
    js, publisher = bus
    hub, other = sample_projection().hub, sample_projection().hub
    # Two hubs interleaved, so the locally filtered reader has messages to skip.
    pairs = zip(health_events(publisher, hub, 600), health_events(publisher, other, 600), strict=True)
    mixed = [e for pair in pairs for e in pair]
    published = await publisher.publish_many(mixed)
    ours = [p.sequence for p in published if p.event_id in {e.id for e in mixed if e.hub == hub}]
    subject = f"operational.{hub}.>"
    for local in (False, True):
        seen = []
        async with StreamReader(js, "OPERATIONAL", subject, Start(), max_queued=40, filter_locally=local) as reader:
            async for batch in reader.drain_to_head(25):
                seen += [m.metadata.sequence.stream for m in batch]
                assert all(subject_matches(subject, m.subject) for m in batch)
                await asyncio.sleep(0.001)  # slower than delivery: the queue fills and the reader pauses
            # Each pause drops the subscription and starts a new generation: 1,200 messages through a queue of
            # 40 must have paused (and so resumed) many times, or this test proves nothing about resuming.
            pauses = reader._generation
        assert pauses >= 5, f"filter_locally={local}: the reader paused {pauses} times"
        assert seen == ours, f"filter_locally={local}"


@pytest.mark.parametrize(
    ("pattern", "subject", "matches"),
    [
        ("operational.ops-hub.>", "operational.ops-hub.ops-health-checked.service:a", True),
        ("operational.ops-hub.>", "operational.ops-hub", False),
        ("operational.ops-hub.>", "operational.ops-hubx.t.e", False),
        ("operational.*.alert-raised.>", "operational.ops-hub.alert-raised.service:a", True),
        ("operational.*.alert-raised.>", "operational.ops-hub.ops-health-checked.service:a", False),
        ("a.b", "a.b", True),
        ("a.*", "a.b.c", False),
    ],
)
def test_subject_matching_follows_nats_wildcards(pattern, subject, matches):
    assert subject_matches(pattern, subject) is matches


async def test_a_reader_takes_messages_as_nats_py_reads_them_in_order(bus):
    js, publisher = bus
    hub = sample_projection().hub
    published = await publisher.publish_many(health_events(publisher, hub, 300))
    async with StreamReader(js, "OPERATIONAL", f"operational.{hub}.>", Start()) as reader:
        # No per-subscription queue and task in between (bus/nats_internals.py): a nats-py whose internals
        # changed would fall back to them, and read slower; this says so.
        assert delivers_directly(reader._sub), "bus/nats_internals.deliver_directly did not take"
        got = [m.metadata.sequence.stream async for batch in reader.drain_to_head(100) for m in batch]
    assert got == [p.sequence for p in published]
