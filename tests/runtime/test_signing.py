"""`vsmesh up` signs the constitutional chain's head every N events, and never a broken chain."""

from __future__ import annotations

import asyncio

import nats

from tests.bus.test_chain import PASSWORD, mesh, record, tamper, verify  # noqa: F401 - `mesh` is a fixture
from vsmesh.runtime.signing import keep_signing, last_checkpointed


async def sign_for(settings, seconds: float) -> int:
    nc = await nats.connect(settings.nats_url, user="admin", password=PASSWORD)
    stop = asyncio.Event()
    try:
        task = asyncio.create_task(keep_signing(nc.jetstream(), settings, stop, check_s=0.05))
        await asyncio.sleep(seconds)
        stop.set()
        await task
        return await last_checkpointed(nc.jetstream())
    finally:
        await nc.close()


def test_the_head_is_signed_every_n_events_and_a_broken_chain_is_not(mesh):  # noqa: F811
    settings = mesh.model_copy(update={"chain_checkpoint_every": 3})
    asyncio.run(record(settings))  # six events
    assert asyncio.run(sign_for(settings, 1.0)) == 6
    code, report = verify(settings)
    assert code == 0 and report["signed_checkpoint_seq"] == 7 and report["events"] == 7

    asyncio.run(record(settings, n=3))  # four more (a batch of one included): past the threshold again
    asyncio.run(tamper(settings, "altered"))
    assert asyncio.run(sign_for(settings, 1.0)) == 6  # nothing new signed over the altered event
    assert verify(settings)[0] == 1
