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
    events = [
        publisher.build("ops-health-checked", hub="ops-hub", subject=f"service/r{i}", data={"status": "green"})
        for i in range(3000)
    ]
    first = await publisher.publish_many(events[:1000])

    async def restart() -> None:
        await asyncio.sleep(0.05)
        stop_pid(server.pid)
        await asyncio.sleep(0.5)
        own_server["server"] = await asyncio.to_thread(
            start_nats, own_server["root"], port=server.port, password=server.password
        )

    restarting = asyncio.create_task(restart())
    rest = await publisher.publish_many(events[1000:], window=256)
    await restarting
    # The first 1000 again, as a client that lost its acks would: all recognised as duplicates.
    again = await publisher.publish_many(events[:1000])
    info = await js.stream_info("OPERATIONAL")
    await nc.close()

    assert len(first) + len(rest) == 3000
    assert all(r.duplicate for r in again)
    assert info.state.messages == 3000


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
