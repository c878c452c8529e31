"""SIGKILL the notifier while it delivers: after a restart every notification arrives, and any redelivery carries
the same webhook-id (the id derives from the route, the receiver and the event; the ledger commits with the
position)."""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import signal
import time
from collections import defaultdict
from pathlib import Path

import msgspec
import sqlalchemy as sa

from tests.conftest import wait_until
from tests.notify.conftest import ENVIRON, Inbox, policy, serve
from tests.notify.notifier_proc import run_notifier
from vsmesh.notify.ledger import notifications

ALERTS = 60


class SlowInbox(Inbox):
    """A receiver that takes a while per request, so the kill lands mid-delivery."""

    def answer(self) -> int:
        time.sleep(0.01)
        return super().answer()


class Forked:
    """The notifier in a forked child: it starts with every module already imported (a fresh interpreter spent
    5-8 s importing on the loaded machine), and dies by SIGKILL like any process."""

    def __init__(self, own, log: Path) -> None:
        self.log = log
        self.process = multiprocessing.get_context("fork").Process(target=_child, args=(own, log), daemon=True)
        self.process.start()

    def poll(self) -> int | None:
        return self.process.exitcode

    def send_signal(self, sig: int) -> None:
        os.kill(self.process.pid, sig)

    def wait(self, timeout: float) -> None:
        self.process.join(timeout)

    def terminate(self) -> None:
        if self.process.is_alive():
            self.process.terminate()


def _child(own, log: Path) -> None:
    asyncio.events._set_running_loop(None)  # forked from inside the test's running loop
    with log.open("ab") as out:
        os.dup2(out.fileno(), 1)
        os.dup2(out.fileno(), 2)
    asyncio.run(run_notifier(own.model_copy(update={"actor": "vsmesh-notify"}), ENVIRON))


def _start(own, log: Path) -> Forked:
    return Forked(own, log)


async def test_sigkill_during_delivery_loses_nothing_and_never_changes_a_webhook_id(own, tmp_path) -> None:
    from vsmesh.bus.connection import connect
    from vsmesh.bus.publisher import Publisher
    from vsmesh.projectors.engine.database import create_engine

    box = SlowInbox()
    server = serve(box)
    log = tmp_path / "notifier.log"
    proc = _start(own, log)
    nc = await connect(own)
    engine = create_engine(own)
    publisher = Publisher(nc.jetstream(), own)
    try:
        await route_high_to(publisher, server)
        await _until_routes(engine, proc, log)
        events = [publisher.build("alert-raised", hub="ops-hub", subject=f"service/s{i}",
                                  data={"title": f"s{i} down", "severity": "high"}) for i in range(ALERTS)]  # fmt: skip
        for e in events:
            await publisher.publish(e)
        # Killed while it delivers: some arrived, not all.
        wait_until(lambda: len(box.received) >= 10, timeout=60, what="deliveries to start", proc=proc, log=log)
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
        assert len(box.received) < ALERTS, "everything arrived before the kill: the test proves nothing"
        proc = _start(own, log)
        wait_until(lambda: len(_told(box)) == ALERTS, timeout=90, what="every alert to arrive", proc=proc, log=log)
        # Every alert told once, or again with the same webhook-id; the ledger says delivered.
        ids = defaultdict(set)
        for headers, body in list(box.received):
            for event in msgspec.json.decode(body):
                ids[event["id"]].add(headers["webhook-id"])
        assert {e.id for e in events} == set(ids)
        assert all(len(v) == 1 for v in ids.values())
        for _ in range(400):  # the last answers are being recorded
            async with engine.connect() as conn:
                query = sa.select(sa.func.count()).where(notifications.c.status == "delivered")
                if (await conn.execute(query)).scalar_one() == ALERTS:
                    break
            await asyncio.sleep(0.05)
        else:
            raise AssertionError("the ledger never said every notification was delivered")
    finally:
        await _stop(proc, server, engine, nc)


async def route_high_to(publisher, server) -> None:
    """canon's route of every high alert to the local receiver `server`, signed, retried soon."""
    url = f"http://127.0.0.1:{server.server_port}/hook"
    receivers = {"hook": {"kind": "webhook", "url": url, "secret": "{env:HOOK_SECRET}", "backoff": "100ms"}}
    routes = [{"name": "all-high", "match": {"severity": "high"}, "receivers": ["hook"]}]
    await publisher.publish(publisher.build("canon-policy-declared", hub="canon-hub", subject="policy/n",
                                            data=policy(receivers, routes)))  # fmt: skip


def _told(box: Inbox) -> set[str]:
    return {e["id"] for _, body in list(box.received) for e in msgspec.json.decode(body)}


async def _until_routes(engine, proc, log) -> None:
    from vsmesh.notify.ledger import policies

    for _ in range(600):
        try:
            async with engine.connect() as conn:
                if (await conn.execute(sa.select(sa.func.count()).select_from(policies))).scalar_one():
                    return
        except sa.exc.ProgrammingError:  # the ledger not created yet
            pass
        assert proc.poll() is None, log.read_text()[-2000:]
        await asyncio.sleep(0.05)
    raise AssertionError("the notifier never read canon's route")


async def test_sigkill_after_planning_nothing_for_a_while_tells_each_alert_once(own, tmp_path) -> None:
    # Its position is stored only with what it plans (or after an hour): the kill lands while it runs ahead.
    lazy = own.model_copy(update={"reactor_save_every_s": 3600.0})
    box, log = Inbox(), tmp_path / "notifier.log"
    server, proc = serve(box), _start(lazy, log)
    nc, engine, publisher = await _client(own)

    def alert(name: str, severity: str):
        return publisher.build("alert-raised", hub="ops-hub", subject=f"service/{name}",
                               data={"title": f"{name} down", "severity": severity})  # fmt: skip

    try:
        await route_high_to(publisher, server)
        await _until_routes(engine, proc, log)
        first = alert("first", "high")
        await publisher.publish(first)
        wait_until(lambda: _told(box) == {first.id}, timeout=60, what="the first alert told", proc=proc, log=log)
        stored = await _stored(engine)
        # 100 alerts no route tells of: read, and their position not stored.
        quiet = [alert(f"quiet{i}", "low") for i in range(100)]
        last_quiet = max(p.sequence for p in await publisher.publish_many(quiet))
        for _ in range(600):
            consumers = await nc.jetstream().consumers_info("OPERATIONAL")
            if max((c.delivered.stream_seq or 0 for c in consumers), default=0) >= last_quiet:
                break
            await asyncio.sleep(0.05)
        else:
            raise AssertionError("the notifier never read the quiet alerts")
        assert await _stored(engine) == stored
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
        # Restarted, it reads them again (planning nothing) and tells of the next alert once.
        proc = _start(lazy, log)
        second = alert("second", "high")
        await publisher.publish(second)
        wait_until(lambda: len(box.received) >= 2, timeout=60, what="the second alert told", proc=proc, log=log)
        told = [e["id"] for _, body in list(box.received) for e in msgspec.json.decode(body)]
        assert sorted(told) == sorted([first.id, second.id])
        # Stopped cleanly, it stores what it read: a next start reads nothing again.
        proc.terminate()
        proc.wait(10)
        assert await _stored(engine) >= last_quiet
    finally:
        await _stop(proc, server, engine, nc)


async def _stored(engine) -> int:
    from vsmesh.notify.ledger import positions

    async with engine.connect() as conn:
        query = sa.select(positions.c.seq).where(positions.c.stream == "OPERATIONAL")
        return (await conn.execute(query)).scalar_one()


async def _client(own):
    """The test's own NATS connection, database engine and publisher (the notifier has its own, in its process)."""
    from vsmesh.bus.connection import connect
    from vsmesh.bus.publisher import Publisher
    from vsmesh.projectors.engine.database import create_engine

    nc = await connect(own)
    return nc, create_engine(own), Publisher(nc.jetstream(), own)


async def _stop(proc, server, engine, nc) -> None:
    proc.terminate()
    proc.wait(10)
    server.shutdown()
    await engine.dispose()
    await nc.close()
