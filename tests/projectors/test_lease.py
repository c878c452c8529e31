"""A lease holder that cannot renew stops its work before the lease's TTL could hand it to another process
(README: Projector scale-out). NATS is made unreachable for real: its server is frozen with SIGSTOP, so the
holder's renewals go unanswered as in a network partition, while the entry would expire for everyone else."""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import time

import pytest

from tests.conftest import server_dir
from vsmesh.bus.connection import connect
from vsmesh.projectors.distribution.lease import TTL_S, lease_bucket, run_leased
from vsmesh.runtime.nats_server import start_nats, stop_pid


@pytest.fixture
def frozen_server():
    """A nats-server of this test's own (the test freezes it)."""
    root = server_dir()
    server = start_nats(root, password="lease-test")
    yield server
    os.kill(server.pid, signal.SIGCONT)
    stop_pid(server.pid)
    shutil.rmtree(root, ignore_errors=True)


async def test_a_holder_that_cannot_renew_stops_before_the_ttl(frozen_server, settings):
    server = frozen_server
    mine = settings.model_copy(update={"nats_url": server.url, "nats_user": server.user, "nats_password": "lease-test"})
    nc = await connect(mine, name="test-lease")
    kv = await lease_bucket(nc.jetstream())
    working, stopped, stop = asyncio.Event(), asyncio.Event(), asyncio.Event()
    stopped_at: list[float] = []

    async def work(stop_work: asyncio.Event) -> None:
        working.set()
        await stop_work.wait()
        stopped_at.append(time.monotonic())
        stopped.set()

    leased = asyncio.create_task(run_leased(kv, "lease-test", work, stop))
    try:
        await asyncio.wait_for(working.wait(), 30)
        # Frozen just after a renewal could have happened: from here on, none is answered.
        os.kill(server.pid, signal.SIGSTOP)
        frozen = time.monotonic()
        await asyncio.wait_for(stopped.wait(), 3 * TTL_S)
        # The entry was last renewed before the freeze: the work must have stopped within the TTL of that.
        assert stopped_at[0] - frozen < TTL_S, f"work stopped {stopped_at[0] - frozen:.1f} s after NATS froze"
    finally:
        stop.set()
        os.kill(server.pid, signal.SIGCONT)
        await asyncio.wait_for(asyncio.gather(leased, return_exceptions=True), 30)
        await nc.close()
