"""The publisher: typed events stored once, bad input refused before anything is stored."""

import uuid

import pytest

from vsmesh.bus.connection import connect
from vsmesh.bus.publisher import Publisher
from vsmesh.bus.streams import ensure_streams
from vsmesh.errors import ConcurrencyConflict, InvalidEvent, MeshNotRunning, UnknownEventType


@pytest.fixture
async def publisher(settings):
    nc = await connect(settings)
    await ensure_streams(nc.jetstream())
    yield Publisher(nc.jetstream(), settings)
    await nc.close()


async def test_event_id_is_the_message_id_so_a_retry_is_stored_once(publisher):
    event = publisher.build("ops-health-checked", hub="ops-hub", subject="service/retry", data={"status": "green"})
    first = await publisher.publish(event)
    again = await publisher.publish(event)
    assert first.stream == "OPERATIONAL"
    assert again.duplicate and again.sequence == first.sequence


async def test_many_events_are_pipelined_in_order(publisher):
    entity = f"service/many-{uuid.uuid4().hex[:6]}"
    events = [
        publisher.build("ops-health-checked", hub="ops-hub", subject=entity, data={"status": "green"})
        for _ in range(500)
    ]
    results = await publisher.publish_many(events, window=64)
    assert [r.event_id for r in results] == [e.id for e in events]
    sequences = [r.sequence for r in results]
    assert sequences == sorted(sequences) and len(set(sequences)) == 500


async def test_bad_input_is_refused_with_the_field_named(publisher, settings):
    with pytest.raises(UnknownEventType, match="'ops-teleported'"):
        publisher.build("ops-teleported", hub="ops-hub", subject=None, data={})
    with pytest.raises(InvalidEvent, match=r"\$\.data\.status"):
        publisher.build("ops-health-checked", hub="ops-hub", subject=None, data={"status": "blue"})
    with pytest.raises(InvalidEvent, match="hub 'Ops Hub'"):
        publisher.build("ops-health-checked", hub="Ops Hub", subject=None, data={"status": "red"})


async def test_oversize_event_is_refused_before_it_is_sent(publisher, settings):
    huge = {"status": "green", "observations": {"blob": "x" * (settings.max_event_bytes + 1)}}
    event = publisher.build("ops-health-checked", hub="ops-hub", subject="service/huge", data=huge)
    with pytest.raises(InvalidEvent, match="over the 1048576-byte limit"):
        await publisher.publish(event)


async def test_unreachable_server_is_one_clear_error(settings):
    gone = settings.model_copy(update={"nats_url": "nats://127.0.0.1:1"})
    with pytest.raises(MeshNotRunning, match=r"cannot reach NATS at nats://127\.0\.0\.1:1"):
        await connect(gone)


async def test_wrong_password_is_refused_clearly(settings):
    wrong = settings.model_copy(update={"nats_password": "not-the-password"})
    with pytest.raises(MeshNotRunning, match="refused the login"):
        await connect(wrong)


async def test_stale_writer_gets_a_conflict_and_nothing_is_stored(publisher):
    entity = f"service/occ-{uuid.uuid4().hex[:6]}"
    assert await publisher.entity_sequence("ops-health-checked", "ops-hub", entity) == 0

    def health(status: str):
        return publisher.build("ops-health-checked", hub="ops-hub", subject=entity, data={"status": status})

    first = await publisher.publish(health("green"), expect_entity_seq=0)
    # Two writers read the entity at `first`; one wins with an event of another type, the other is stale.
    seen = await publisher.entity_sequence("ops-health-checked", "ops-hub", entity)
    assert seen == first.sequence
    registered = publisher.build(
        "ops-inventory-registered", hub="ops-hub", subject=entity, data={"kind": "service", "name": "occ"}
    )
    winner = await publisher.publish(registered, expect_entity_seq=seen)
    with pytest.raises(ConcurrencyConflict, match=f"{entity} of ops-hub changed since sequence {seen}"):
        await publisher.publish(health("red"), expect_entity_seq=seen)
    assert await publisher.entity_sequence("ops-health-checked", "ops-hub", entity) == winner.sequence
