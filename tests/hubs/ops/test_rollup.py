"""ops-hub's days rolled up to TACTICAL before their operational events age out: on a stream of the test's own
whose retention is then set to one second, yesterday's events become one rollup per service (health shares,
incidents, changes); a second run publishes nothing, the rollups outlive the events, and deriving them again
from the same events gives the very same events."""

import datetime as dt
import uuid

import msgspec
import pytest
from nats.js.api import StorageType, StreamConfig

from tests.projectors.test_retention_guard import _empty, until
from vsmesh.bus.provenance import decode_stored
from vsmesh.bus.publisher import Publisher
from vsmesh.bus.streams import ensure_streams
from vsmesh.bus.subjects import entity_token, event_subject
from vsmesh.events.codec import encode_event
from vsmesh.hubs.ops.rollup import ROLLUP_TYPE, derive, fold_days, roll_up, rollup_id, rollup_publisher
from vsmesh.projectors.rebuild.retention_guard import set_retention


@pytest.fixture
async def own_stream(nc):
    js = nc.jetstream()
    await ensure_streams(js)  # the rollups go to the real TACTICAL
    name = f"ROLL_{uuid.uuid4().hex[:6].upper()}"
    await js.add_stream(StreamConfig(name=name, subjects=[f"{name.lower()}.>"], storage=StorageType.FILE))
    yield js, name, name.lower()
    await js.delete_stream(name)


async def test_closed_days_roll_up_once_and_outlive_their_events(nc, settings, own_stream):
    js, stream, prefix = own_stream
    publisher = Publisher(js, settings)
    a, b = f"ra-{uuid.uuid4().hex[:6]}", f"rb-{uuid.uuid4().hex[:6]}"
    now = dt.datetime.now(dt.UTC)
    yesterday, today = now - dt.timedelta(days=1), now.date()

    def at(when, event_type, subject, data):
        event = publisher.build(event_type, hub="ops-hub", subject=subject, data=data)
        return msgspec.structs.replace(event, time=when)  # the event's own time decides its day

    events = [
        *(at(yesterday, "ops-health-checked", f"service/{a}", {"status": s}) for s in ("green", "green", "red", "green")),  # noqa: E501
        at(yesterday, "ops-incident-opened", "incident/disk", {"title": "disk full", "affected": [f"service/{a}"]}),
        at(yesterday, "ops-change-recorded", f"service/{a}", {"summary": "deployed 1.2"}),
        at(yesterday, "ops-health-checked", f"service/{b}", {"status": "amber"}),
        at(now, "ops-health-checked", f"service/{a}", {"status": "red"}),  # today is not closed: not rolled up
    ]  # fmt: skip
    for e in events:
        await js.publish(f"{prefix}.ops-hub.{e.type}.{entity_token(e.subject)}", encode_event(e))

    rollups = rollup_publisher(js, settings)
    published = await roll_up(js, rollups, stream=stream, subject=f"{prefix}.ops-hub.>")
    assert sorted(published) == sorted([rollup_id(a, yesterday.date()), rollup_id(b, yesterday.date())])
    stored = await rollup_of(js, a, yesterday.date())
    assert stored.actor == "vsmesh-rollup" and stored.hub == "ops-hub"
    assert stored.data.checks == {"green": 3, "red": 1} and stored.data.health_share == {"green": 0.75, "red": 0.25}
    assert (stored.data.incidents_opened, stored.data.changes) == (1, 1)
    # Derived: the same events give the same rollup, byte for byte; a second run publishes nothing.
    [again] = [r for r in derive(rollups, fold_days(events, today)) if r.id == stored.id]
    assert encode_event(again) == encode_event(stored)
    assert await roll_up(js, rollups, stream=stream, subject=f"{prefix}.ops-hub.>") == []

    # The stream forgets its events after a second; the rollups stay on TACTICAL.
    await set_retention(js, stream, 1, "1s")
    await until(lambda: _empty(js, stream))
    assert await roll_up(js, rollups, stream=stream, subject=f"{prefix}.ops-hub.>") == []
    assert (await rollup_of(js, b, yesterday.date())).data.checks == {"amber": 1}


async def rollup_of(js, service: str, day: dt.date):
    subject = event_subject("tactical", "ops-hub", ROLLUP_TYPE, f"rollup/{service}/{day.isoformat()}")
    msg = await js.get_last_msg("TACTICAL", subject)
    return decode_stored(msg.data, msg.headers, subject)
