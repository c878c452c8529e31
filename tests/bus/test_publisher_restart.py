"""A NATS restart mid-publish: the publisher retries (bounded) and every event is stored exactly once."""

import asyncio
import contextlib
import shutil

import pytest

from tests.conftest import server_dir
from vsmesh.bus.connection import connect
from vsmesh.bus.publisher import Publisher
from vsmesh.bus.streams import ensure_streams
from vsmesh.errors import PublishError
from vsmesh.runtime.nats_server import free_port, start_nats, stop_pid


@pytest.fixture
def own_server():
    """A nats-server of this test's own, since the test stops it."""
    root = server_dir()
    server = start_nats(root, port=free_port(), password="restart-test")
    holder = {"server": server, "root": root}
    yield holder
    stop_pid(holder["server"].pid)
    shutil.rmtree(root, ignore_errors=True)


async def test_events_published_across_a_restart_are_stored_once(own_server, settings):
    server = own_server["server"]
    mine = settings.model_copy(
        update={"nats_url": server.url, "nats_user": server.user, "nats_password": server.password}
    )
    nc = await connect(mine)
    js = nc.jetstream()
    await ensure_streams(js)
    publisher = Publisher(js, mine, attempts=20)
    down, built = asyncio.Event(), []

    async def restart() -> None:
        await asyncio.to_thread(stop_pid, server.pid)
        down.set()
        own_server["server"] = await asyncio.to_thread(
            start_nats, own_server["root"], port=server.port, password=server.password
        )

    async def events():
        # The restart begins after 500 events and the stream goes on until the server is down and 300 more
        # were sent into the outage: the restart lands mid-stream, whatever the machine's speed.
        restarting, after = None, 0
        while after < 300:
            event = publisher.build("ops-health-checked", hub="ops-hub", subject=f"service/r{len(built)}",
                                    data={"status": "green"})  # fmt: skip
            built.append(event)
            yield event
            if len(built) == 500:
                restarting = asyncio.create_task(restart())
            after += down.is_set()
            await asyncio.sleep(0)  # let the restart run beside the stream
        await restarting

    sent_before = nc.stats["out_msgs"]
    published = await publisher.publish_many(events(), window=256)
    # Messages the client sent beyond one per event: acknowledgements lost to the restart, sent again.
    resent = nc.stats["out_msgs"] - sent_before - len(built)
    # The first 500 again, as a client that lost its acks would: all recognised as duplicates.
    again = await publisher.publish_many(built[:500])
    info = await js.stream_info("OPERATIONAL")
    await nc.close()

    assert resent > 0, "no event was sent again: the restart did not land while events were in flight"
    assert [p.event_id for p in published] == [e.id for e in built]
    assert all(r.duplicate for r in again)
    assert info.state.messages == len(built) >= 800  # each event stored exactly once


async def test_retries_are_bounded_and_the_error_says_so(settings):
    root = server_dir()
    server = start_nats(root, port=free_port(), password="pw")
    mine = settings.model_copy(update={"nats_url": server.url, "nats_user": server.user, "nats_password": "pw"})
    nc = await connect(mine)
    await ensure_streams(nc.jetstream())
    publisher = Publisher(nc.jetstream(), mine, attempts=3)
    stop_pid(server.pid)
    try:
        event = publisher.build("ops-health-checked", hub="ops-hub", subject="service/x", data={"status": "red"})
        with pytest.raises(PublishError, match="after 3 attempts; is NATS up"):
            await publisher.publish(event)
    finally:
        with contextlib.suppress(ConnectionError):  # nats-py's close flushes into the dead socket
            await nc.close()
        shutil.rmtree(root, ignore_errors=True)


async def test_a_nats_without_our_streams_is_named_with_the_fix(own_server, settings):
    server = own_server["server"]
    bare = settings.model_copy(
        update={"nats_url": server.url, "nats_user": server.user, "nats_password": server.password}
    )
    nc = await connect(bare)
    try:
        publisher = Publisher(nc.jetstream(), bare, attempts=2)
        event = publisher.build("ops-health-checked", hub="ops-hub", subject="service/x", data={"status": "red"})
        with pytest.raises(PublishError, match=r"no stream takes operational\.ops-hub\..*`vsmesh up` creates"):
            await publisher.publish(event)
    finally:
        await nc.close()
