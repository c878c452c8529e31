"""A reactor killed with SIGKILL at arbitrary moments while events stream in, or after emitting nothing for a
while (its position not stored for that stretch): no emission lost, none doubled."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from pathlib import Path

import asyncpg

from tests.conftest import wait_until
from tests.couplings.sigkill_coupling import NAME
from vsmesh.bus.connection import connect
from vsmesh.bus.publisher import Publisher
from vsmesh.bus.reader import Start, StreamReader
from vsmesh.events.codec import decode_message

ROOT = Path(__file__).parent.parent.parent
EVENTS = 300


def start_reactor(mesh_env: dict[str, str], **env_vars: str) -> subprocess.Popen:
    cmd = [sys.executable, "-m", "vsmesh.runtime.reactor_main", "--extra", "tests.couplings.sigkill_coupling:couplings",
           "--only", NAME]  # fmt: skip
    env = {**os.environ, **mesh_env, **env_vars}
    return subprocess.Popen(cmd, env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


async def publish_slowly(settings, run: str, enough: threading.Event) -> list[str]:
    """Ten decisions every 0.1 s until the test has killed the reactor enough times (and EVENTS at least)."""
    nc = await connect(settings, name="test-sigkill")
    try:
        publisher = Publisher(nc.jetstream(), settings)
        ids: list[str] = []
        while len(ids) < EVENTS or not enough.is_set():
            events = [
                publisher.build("dev-decision-recorded", hub="dev-hub", subject=f"sigkill/{run}/{j}",
                                data={"title": f"d{j}", "decision": "go"})
                for j in range(len(ids), len(ids) + 10)
            ]  # fmt: skip
            ids += [p.event_id for p in await publisher.publish_many(events)]
            # Arrivals spread out, so the reactor is killed mid-stream; slower past EVENTS, for as long as the
            # kills take (a reactor's start took 2-10 s under load), so its catch-up stays short.
            await asyncio.sleep(0.1 if len(ids) < EVENTS else 0.5)
        return ids
    finally:
        await nc.close()


async def echoes(settings, run: str) -> list:
    nc = await connect(settings, name="test-sigkill")
    try:
        found = []
        async with StreamReader(nc.jetstream(), "TACTICAL", "tactical.dev-hub.message-sent.>", Start()) as reader:
            async for batch in reader.drain_to_head():
                found += [decode_message(m.data, m.headers) for m in batch]
        return [e for e in found if (e.subject or "").startswith(f"sigkill/{run}/")]
    finally:
        await nc.close()


def echoed(settings, run: str) -> int:
    """How many of this run's causes the reactor has answered (its outbox, committed with its position)."""

    async def count() -> int:
        conn = await asyncpg.connect(settings.database_url)
        try:
            query = (
                "SELECT count(DISTINCT cause_id) FROM vsmesh_reactors.emitted WHERE coupling = $1 AND subject LIKE $2"
            )
            return await conn.fetchval(query, NAME, f"sigkill/{run}/%")
        except asyncpg.UndefinedTableError:
            return 0  # the first reactor has not made its tables yet
        finally:
            await conn.close()

    return asyncio.run(count())


def test_sigkill_during_a_stream_neither_skips_nor_doubles(settings, mesh_env, streams):
    run = uuid.uuid4().hex[:8]
    reactor = start_reactor(mesh_env)
    enough = threading.Event()
    publishing = subprocess_free_thread(lambda: asyncio.run(publish_slowly(settings, run, enough)))
    try:
        # Kill the reactor twice while the events arrive, each time once it has emitted since it started (fixed
        # delays of 0.9-1.5 s landed while it was still importing: its first emission came 2-18 s after a start
        # on the shared machine), restarting it each time.
        seen = 0
        for _ in range(2):
            wait_until(lambda s=seen: echoed(settings, run) > s, timeout=60, what="the reactor to emit", proc=reactor)
            reactor.send_signal(signal.SIGKILL)
            reactor.wait(10)
            reactor = start_reactor(mesh_env)
            seen = echoed(settings, run)
        enough.set()
        while publishing.is_alive():
            time.sleep(0.05)
        causes = publishing.result
        # After the last restart the reactor catches up: one echo per cause.
        wait_until(lambda: echoed(settings, run) >= len(causes), timeout=60, what="every cause to be echoed",
                   proc=reactor)  # fmt: skip
        emitted = asyncio.run(echoes(settings, run))
        assert len(causes) >= EVENTS
        counts = Counter(e.causationid for e in emitted)
        assert set(counts) == set(causes), "a cause was skipped"
        assert max(counts.values()) == 1, "an emission was doubled"
        assert len({e.id for e in emitted}) == len(emitted) == len(causes)
    finally:
        enough.set()
        reactor.terminate()
        reactor.wait(10)


async def decide(settings, subjects: list[str]) -> list[tuple[str, int]]:
    """One dev decision per subject: (event id, stream sequence) of each."""
    nc = await connect(settings, name="test-sigkill")
    try:
        publisher = Publisher(nc.jetstream(), settings)
        events = [publisher.build("dev-decision-recorded", hub="dev-hub", subject=s,
                                  data={"title": s, "decision": "go"}) for s in subjects]  # fmt: skip
        return [(p.event_id, p.sequence) for p in await publisher.publish_many(events)]
    finally:
        await nc.close()


async def reactor_state(settings) -> tuple[int, int]:
    """(stored position, how far its consumer has delivered): what the reactor stored, and what it read."""
    nc = await connect(settings, name="test-sigkill")
    conn = await asyncpg.connect(settings.database_url)
    try:
        query = "SELECT seq FROM vsmesh_reactors.positions WHERE coupling = $1 AND stream = 'TACTICAL'"
        stored = await conn.fetchval(query, NAME) or 0
        consumers = await nc.jetstream().consumers_info("TACTICAL")
        subject = "tactical.dev-hub.dev-decision-recorded.>"
        delivered = max((c.delivered.stream_seq or 0 for c in consumers if c.config.filter_subject == subject),
                        default=0)  # fmt: skip
        return stored, delivered
    finally:
        await conn.close()
        await nc.close()


def test_sigkill_after_emitting_nothing_for_a_while_neither_skips_nor_doubles(settings, mesh_env, streams):
    run = uuid.uuid4().hex[:8]
    # Stored only when it emits (or after an hour): the kill lands while its position runs ahead of the stored one.
    reactor = start_reactor(mesh_env, VSMESH_REACTOR_SAVE_EVERY_S="3600")
    try:
        [first] = asyncio.run(decide(settings, [f"sigkill/{run}/first"]))
        wait_until(lambda: echoed(settings, run) == 1, timeout=60, what="the first echo", proc=reactor)
        stored, _ = asyncio.run(reactor_state(settings))
        assert stored >= first[1]
        # 200 decisions it emits nothing for: read, and not stored.
        quiet = asyncio.run(decide(settings, [f"sigkill/{run}/quiet/{j}" for j in range(200)]))
        last_quiet = max(seq for _, seq in quiet)
        wait_until(lambda: asyncio.run(reactor_state(settings))[1] >= last_quiet, timeout=60,
                   what="the reactor to read the quiet decisions", proc=reactor)  # fmt: skip
        assert asyncio.run(reactor_state(settings))[0] == stored
        reactor.send_signal(signal.SIGKILL)
        reactor.wait(10)
        # Restarted, it reads the quiet ones again (emitting nothing) and answers the next decision once.
        reactor = start_reactor(mesh_env, VSMESH_REACTOR_SAVE_EVERY_S="3600")
        [second] = asyncio.run(decide(settings, [f"sigkill/{run}/second"]))
        wait_until(lambda: echoed(settings, run) == 2, timeout=60, what="the second echo", proc=reactor)
        emitted = asyncio.run(echoes(settings, run))
        assert sorted(e.causationid for e in emitted) == sorted([first[0], second[0]])
        # Stopped cleanly, it stores what it has read: a next start has nothing to read again.
        reactor.terminate()
        reactor.wait(10)
        stored, _ = asyncio.run(reactor_state(settings))
        assert stored >= second[1]
    finally:
        reactor.terminate()
        reactor.wait(10)


class subprocess_free_thread:  # noqa: N801 - reads as a call
    """Run `fn` in a thread (it has its own event loop) and keep its result."""

    def __init__(self, fn) -> None:
        import threading

        self.result = None
        self._thread = threading.Thread(target=self._run, args=(fn,), daemon=True)
        self._thread.start()

    def _run(self, fn) -> None:
        self.result = fn()

    def is_alive(self) -> bool:
        return self._thread.is_alive()
