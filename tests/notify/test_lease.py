"""Two notifier processes on one mesh: the holder of the lease delivers, the other stands by; SIGKILL the holder
mid-delivery and the other takes over after the lease's TTL, delivering what remained with the same webhook-ids."""

from __future__ import annotations

import asyncio
import signal
from collections import defaultdict

import msgspec
import sqlalchemy as sa

from tests.conftest import wait_until
from tests.notify.conftest import serve
from tests.notify.test_crash import Forked, SlowInbox, _until_routes, route_high_to
from vsmesh.notify.ledger import notifications
from vsmesh.notify.service import LEASE
from vsmesh.projectors.distribution.lease import TTL_S, current_holder, lease_bucket

FIRST, SECOND = 20, 60


def _ids(box: SlowInbox) -> dict[str, list[str]]:
    """Each event told → the webhook-id of every POST that told it (one per POST: a repeat shows twice)."""
    told = defaultdict(list)
    for headers, body in list(box.received):
        for event in msgspec.json.decode(body):
            told[event["id"]].append(headers["webhook-id"])
    return told


async def test_one_of_two_notifiers_delivers_and_the_other_takes_over_when_it_is_killed(own, tmp_path) -> None:
    from vsmesh.bus.connection import connect
    from vsmesh.bus.publisher import Publisher
    from vsmesh.projectors.engine.database import create_engine

    box = SlowInbox()
    server = serve(box)
    log = tmp_path / "notifiers.log"
    procs = [Forked(own, log), Forked(own, log)]
    nc = await connect(own)
    engine = create_engine(own)
    publisher = Publisher(nc.jetstream(), own)
    leases = await lease_bucket(nc.jetstream())

    async def holder() -> int | None:
        entry = await current_holder(leases, LEASE, key=LEASE)
        return entry.pid if entry else None

    async def alerts(n: int, tag: str) -> list[str]:
        built = [publisher.build("alert-raised", hub="ops-hub", subject=f"service/{tag}{i}",
                                 data={"title": f"{tag}{i} down", "severity": "high"}) for i in range(n)]  # fmt: skip
        for e in built:
            await publisher.publish(e)
        return [e.id for e in built]

    async def delivered() -> int:
        async with engine.connect() as conn:
            query = sa.select(sa.func.count()).where(notifications.c.status == "delivered")
            return (await conn.execute(query)).scalar_one()

    try:
        await route_high_to(publisher, server)
        await _until_routes(engine, procs[0], log)
        first = await alerts(FIRST, "a")
        # Both running, the first batch is delivered by one of them: every alert told by one POST, not two.
        for _ in range(1200):
            if await delivered() == FIRST:
                break
            assert all(p.poll() is None for p in procs), log.read_text()[-2000:]
            await asyncio.sleep(0.05)
        else:
            raise AssertionError("the first batch was never delivered")
        told = _ids(box)
        assert set(told) == set(first) and all(len(ids) == 1 for ids in told.values()), told
        leader = await holder()
        [killed] = [p for p in procs if p.process.pid == leader]
        [survivor] = [p for p in procs if p is not killed]

        # The holder dies mid-delivery of the second batch: some arrived, not all.
        second = await alerts(SECOND, "b")
        wait_until(lambda: len(box.received) >= FIRST + 10, timeout=60, what="the second batch to start", log=log)
        killed.send_signal(signal.SIGKILL)
        killed.wait(10)
        assert len(_ids(box)) < FIRST + SECOND, "everything arrived before the kill: the test proves nothing"

        # The other takes the lease once its TTL ran out and delivers the rest, each alert under one webhook-id.
        wait_until(lambda: set(_ids(box)) == {*first, *second}, timeout=90 + TTL_S, what="every alert to arrive",
                   proc=survivor, log=log)  # fmt: skip
        assert await holder() == survivor.process.pid
        assert all(len(set(ids)) == 1 for ids in _ids(box).values())
    finally:
        for p in procs:
            p.terminate()
            p.wait(10)
        server.shutdown()
        await engine.dispose()
        await nc.close()
