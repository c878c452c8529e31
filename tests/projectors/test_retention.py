"""Retention-safe rebuilds: on a real stream whose limits age events out, a rebuild starts from the newest
usable snapshot in the object store, or stops with one clear line naming the hub, stream, first sequence and fix."""

import asyncio
import uuid

import pytest
from nats.js.api import DiscardPolicy, StorageType, StreamConfig

from tests.projectors.sample import digest, health_events, ledger_seqs, sample_projection
from vsmesh.bus.reader import count_pending
from vsmesh.bus.subjects import entity_token
from vsmesh.errors import HistoryAgedOut
from vsmesh.events.codec import encode_event
from vsmesh.projectors.engine.batches import ensure_schema, positions
from vsmesh.projectors.engine.stats import ProjectorStats
from vsmesh.projectors.housekeeping import start_housekeeping
from vsmesh.projectors.rebuild.build import rebuild
from vsmesh.projectors.rebuild.snapshot import take_snapshot
from vsmesh.projectors.rebuild.snapshot_store import list_snapshots
from vsmesh.projectors.runner import run_projection

KEPT = 150  # the stream keeps only the newest 150 messages


@pytest.fixture
async def short_stream(bus):
    """A stream of the test's own whose max_msgs limit ages out everything but the newest KEPT messages."""
    js, _ = bus
    name = f"RETAIN_{uuid.uuid4().hex[:6].upper()}"
    prefix = name.lower()
    await js.add_stream(
        StreamConfig(
            name=name, subjects=[f"{prefix}.>"], max_msgs=KEPT, discard=DiscardPolicy.OLD, storage=StorageType.FILE
        )
    )
    yield name, prefix
    await js.delete_stream(name)


async def publish(js, publisher, prefix: str, hub: str, count: int) -> None:
    for event in health_events(publisher, hub, count, entities_count=30, alerts_every=9):
        # On the entity's own subject: an event counts only where its envelope says (bus/provenance.py).
        await js.publish(f"{prefix}.{hub}.{event.type}.{entity_token(event.subject)}", encode_event(event))


async def follow_to_head(js, db, settings, projection, stream: str) -> None:
    """The live projector, run until it has applied everything the stream holds."""
    await ensure_schema(db, projection, projection.schema)
    stop = asyncio.Event()
    task = asyncio.create_task(run_projection(js, db, projection, settings, stop, ProjectorStats(projection.hub)))
    subject = projection.streams[stream]
    async with asyncio.timeout(30):
        while True:
            at = (await positions(db, projection, projection.schema)).get(stream, 0)
            if at and not await count_pending(js, stream, subject, at):
                break
            await asyncio.sleep(0.05)
    stop.set()
    await task


async def test_rebuild_starts_from_the_newest_usable_snapshot_or_says_what_to_do(bus, db, settings, short_stream):
    js, publisher = bus
    stream, prefix = short_stream
    hub = sample_projection().hub
    projection = sample_projection(hub, streams={stream: f"{prefix}.{hub}.>"})

    # 100 events, all still stored: the live hub follows them and a snapshot is taken.
    await publish(js, publisher, prefix, hub, 100)
    await follow_to_head(js, db, settings, projection, stream)
    early = await take_snapshot(js, db, projection)
    assert early.positions == {stream: 100} and early.rows > 0

    # 100 more: the stream now starts at 51. The live hub saw them all; the log alone no longer could.
    await publish(js, publisher, prefix, hub, 100)
    assert (await js.stream_info(stream)).state.first_seq == 51
    await follow_to_head(js, db, settings, projection, stream)
    live = await digest(db, projection, projection.schema)

    # The rebuild restores the snapshot (at 100 >= 51 - 1) and replays 101..200: the same tables.
    result = await rebuild(js, db, projection)
    assert result.source == early.name and result.events == 100
    assert await digest(db, projection, projection.schema) == live

    # A hub with no snapshot stops with one line naming hub, stream, first sequence and the fix.
    orphan = sample_projection(streams={stream: f"{prefix}.{hub}.>"})
    with pytest.raises(HistoryAgedOut) as refused:
        await rebuild(js, db, orphan)
    message = str(refused.value)
    assert "\n" not in message
    for part in (orphan.hub, stream, "sequence 51", f"vsmesh snapshot {orphan.hub}", "--allow-gap"):
        assert part in message
    # … and builds from what is left only when told to.
    assert (await rebuild(js, db, orphan, allow_gap=True)).events == KEPT
    assert (await ledger_seqs(db, orphan.schema))[0] == 51

    # 100 more: the stream starts at 151, past the early snapshot. A fresh one from the live hub fixes it.
    await publish(js, publisher, prefix, hub, 100)
    await follow_to_head(js, db, settings, projection, stream)
    with pytest.raises(HistoryAgedOut, match="starts at sequence 151"):
        await rebuild(js, db, projection)
    fresh = await take_snapshot(js, db, projection, keep=1)
    assert [s.name for s in await list_snapshots(js, hub)] == [fresh.name]  # keep=1 pruned the early one
    live = await digest(db, projection, projection.schema)
    result = await rebuild(js, db, projection)
    assert result.source == fresh.name and result.events == 0
    assert await digest(db, projection, projection.schema) == live


async def test_vsmesh_up_snapshots_every_n_events(bus, db, settings):
    js, publisher = bus
    projection = sample_projection()
    every = settings.model_copy(update={"snapshot_every_events": 250, "snapshot_every_minutes": 0, "snapshot_keep": 2})
    stop, stats = asyncio.Event(), ProjectorStats(projection.hub)
    await ensure_schema(db, projection, projection.schema)
    # The live projector and the housekeeping tasks `vsmesh up` starts beside it (runtime/supervisor.py calls
    # start_housekeeping with the hubs' projections and stats): the snapshots come from what `up` runs.
    tasks = [
        asyncio.create_task(run_projection(js, db, projection, every, stop, stats)),
        *start_housekeeping(js, db, [projection], [stats], every, stop),
    ]
    try:
        for rounds in range(1, 4):
            await publisher.publish_many(health_events(publisher, projection.hub, 250))
            async with asyncio.timeout(15):
                # Each round of 250 events ends in a snapshot at exactly the projector's position.
                while True:
                    newest = next(iter(await list_snapshots(js, projection.hub)), None)
                    # `last_snapshot` is set once the snapshot is stored and the old ones pruned.
                    if (
                        stats.applied == 250 * rounds
                        and newest
                        and newest.positions == stats.positions
                        and stats.last_snapshot == newest.name
                    ):
                        break
                    await asyncio.sleep(0.1)
        snapshots = await list_snapshots(js, projection.hub)
        assert len(snapshots) == 2  # three taken, the oldest pruned
        assert snapshots[0].name == stats.last_snapshot
    finally:
        stop.set()
        await asyncio.gather(*tasks)
