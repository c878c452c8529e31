"""A retention change cannot break a rebuild: on a stream of the test's own whose max age is set to one second,
the change is refused in one line while a hub would lose events no snapshot covers, and once snapshots are
taken it applies, the events age out, and both hubs (one with events, one quiet) still rebuild to the same rows."""

import asyncio
import datetime as dt
import uuid

import pytest
from nats.js.api import StorageType, StreamConfig

from tests.projectors.sample import digest, sample_projection
from tests.projectors.test_retention import follow_to_head, publish
from vsmesh.bus.streams import RETENTION_SET, _drifted, keep_chosen_retention
from vsmesh.projectors.engine.batches import ensure_schema
from vsmesh.projectors.rebuild.build import rebuild
from vsmesh.projectors.rebuild.retention_guard import check_retention, set_retention
from vsmesh.projectors.rebuild.snapshot import take_snapshot


@pytest.fixture
async def own_stream(bus):
    js, _ = bus
    name = f"GUARD_{uuid.uuid4().hex[:6].upper()}"
    await js.add_stream(StreamConfig(name=name, subjects=[f"{name.lower()}.>"], storage=StorageType.FILE))
    yield name, name.lower()
    await js.delete_stream(name)


async def until(check, timeout: float = 10.0) -> None:
    """Poll an async condition (the log's clock is the server's: waiting for time to pass is the test)."""
    async with asyncio.timeout(timeout):
        while True:
            if await check():
                return
            await asyncio.sleep(0.05)


async def _empty(js, stream: str) -> bool:
    return (await js.stream_info(stream)).state.messages == 0


async def aged(js, stream: str, seconds: float) -> bool:
    """True once the stream's newest message is older than `seconds` (so a max age of that many drops it)."""
    last = (await js.get_msg(stream, (await js.stream_info(stream)).state.last_seq)).time
    return dt.datetime.now(dt.UTC) - last > dt.timedelta(seconds=seconds)


async def test_a_retention_change_is_refused_until_snapshots_cover_every_hub(bus, db, settings, own_stream):
    js, publisher = bus
    stream, prefix = own_stream
    busy_hub, quiet_hub = f"busy-{uuid.uuid4().hex[:6]}", f"quiet-{uuid.uuid4().hex[:6]}"
    busy = sample_projection(busy_hub, streams={stream: f"{prefix}.{busy_hub}.>"})
    quiet = sample_projection(quiet_hub, streams={stream: f"{prefix}.{quiet_hub}.>"})  # no events on the stream
    await publish(js, publisher, prefix, busy.hub, 30)
    await follow_to_head(js, db, settings, busy, stream)
    await ensure_schema(db, quiet, quiet.schema)
    live = await digest(db, busy, busy.schema)

    # Once the events are older than a second, a max age of 1 s would delete all 30.
    await until(lambda: aged(js, stream, 1.1))
    check = await check_retention(js, [busy, quiet], stream, 1)
    assert check.first_kept == 31
    by_hub = {h.hub: h for h in check.hubs}
    assert (by_hub[busy.hub].lost, by_hub[busy.hub].first_lost) == (30, 1)
    assert by_hub[quiet.hub].lost == 0 and not by_hub[quiet.hub].safe  # nothing lost, but nothing to prove it
    message = check.refusal()
    assert "\n" not in message
    for part in (busy.hub, "30 events", f"{stream} from sequence 1", quiet.hub, "--snapshot"):
        assert part in message

    # The --snapshot path: a snapshot of each refused hub, then the check passes. The quiet hub's snapshot
    # covers the stream's head although its own position is 0.
    taken = {h.hub: await take_snapshot(js, db, p) for h, p in zip(check.refused, (busy, quiet), strict=True)}
    assert taken[quiet.hub].positions == {} and taken[quiet.hub].covered(stream) == 30
    check = await check_retention(js, [busy, quiet], stream, 1)
    assert not check.refused and {h.covered_by for h in check.hubs} == {s.name for s in taken.values()}

    # Applied: the events age out, and both hubs still rebuild — from their snapshots, to the same rows.
    await set_retention(js, stream, 1, "1s")
    info = await js.stream_info(stream)
    assert info.config.max_age == 1 and info.config.metadata[RETENTION_SET] == "1s"
    await until(lambda: _empty(js, stream))
    assert (await rebuild(js, db, busy)).source == taken[busy.hub].name
    assert await digest(db, busy, busy.schema) == live
    assert (await rebuild(js, db, quiet)).source == taken[quiet.hub].name


def test_vsmesh_up_keeps_a_retention_set_by_the_command():
    # The reconcile of `vsmesh up` restores a drifted max age, but not one `vsmesh streams retention` chose.
    wanted = StreamConfig(name="OPERATIONAL", subjects=["operational.>"], max_age=90 * 86400)
    drifted = StreamConfig(name="OPERATIONAL", subjects=["operational.>"], max_age=3600)
    assert _drifted(drifted, keep_chosen_retention(drifted, wanted)) == ["max_age"]
    chosen = StreamConfig(
        name="OPERATIONAL", subjects=["operational.>"], max_age=60, duplicate_window=60, metadata={RETENTION_SET: "1m"}
    )
    wanted.duplicate_window = 120
    assert _drifted(chosen, keep_chosen_retention(chosen, wanted)) == []
