"""Streams: created idempotently, reconciled when their config drifts, locked where DESIGN says."""

import asyncio
import subprocess
import time
from collections.abc import Iterator

import nats
import pytest

from vsmesh.bus.connection import connect
from vsmesh.bus.streams import STREAMS, ensure_streams, patiently
from vsmesh.errors import MeshNotRunning
from vsmesh.runtime.nats_server import free_port, nats_server_binary


async def test_streams_exist_with_their_retention_and_reconcile(settings):
    nc = await connect(settings)
    js = nc.jetstream()
    try:
        await ensure_streams(js)
        before = {name: (await js.stream_info(name)).created for name in STREAMS}
        await ensure_streams(js)  # a second run changes nothing and does not fail
        assert {name: (await js.stream_info(name)).created for name in STREAMS} == before
        for name, spec in STREAMS.items():
            info = await js.stream_info(name)
            assert info.config.subjects == list(spec.subjects)
        constitutional = await js.stream_info("CONSTITUTIONAL")
        assert constitutional.config.deny_delete and constitutional.config.deny_purge
        assert constitutional.config.max_age in (0, None)

        # Someone shortens TACTICAL's retention by hand; ensure_streams puts it back.
        drifted = (await js.stream_info("TACTICAL")).config
        drifted.max_age = 3600.0
        await js.update_stream(drifted)
        await ensure_streams(js)
        assert (await js.stream_info("TACTICAL")).config.max_age == STREAMS["TACTICAL"].max_age_s
    finally:
        await nc.close()


@pytest.fixture
def server_without_jetstream(tmp_path) -> Iterator[str]:
    """A plain nats-server (no -js): every JetStream request finds no responder."""
    port = free_port()
    with open(tmp_path / "nats.log", "wb") as out:
        server = subprocess.Popen([str(nats_server_binary()), "-a", "127.0.0.1", "-p", str(port)], stderr=out)
    yield f"nats://127.0.0.1:{port}"
    server.terminate()
    server.wait(10)


async def test_a_server_without_jetstream_is_one_line_naming_the_fix(server_without_jetstream):
    nc = await wait_for_connection(server_without_jetstream)
    try:
        started = time.monotonic()
        with pytest.raises(MeshNotRunning) as refused:
            await ensure_streams(nc.jetstream(), patience=1.0)
        assert time.monotonic() - started < 10  # asked again for about `patience`, not for ever
        said = str(refused.value)
        assert "\n" not in said and "JetStream did not answer about stream" in said and "-js" in said
    finally:
        await nc.close()


async def wait_for_connection(url: str):
    deadline = time.monotonic() + 10
    while True:
        try:
            return await nats.connect(url, allow_reconnect=False)
        except (OSError, nats.errors.NoServersError):
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.1)


async def test_a_jetstream_request_is_asked_again_until_it_answers_or_patience_runs_out(server_without_jetstream):
    # A server without JetStream answers every JetStream request with 503, as a cluster electing does.
    nc = await wait_for_connection(server_without_jetstream)
    tries = []

    async def consumer_info():
        tries.append(time.monotonic())
        if len(tries) < 3:
            return await nc.jetstream().consumer_info("OPERATIONAL", "any")  # 503: no JetStream here
        return "answered"

    try:
        assert await patiently(consumer_info, "a consumer", patience=10) == "answered" and len(tries) == 3
        started = time.monotonic()
        with pytest.raises(nats.js.errors.ServiceUnavailableError):
            await patiently(lambda: nc.jetstream().stream_info("OPERATIONAL"), "stream info", patience=1.0)
        assert time.monotonic() - started < 5
    finally:
        await nc.close()
