"""A reactor killed with SIGKILL at arbitrary moments while events stream in: no emission lost, none doubled."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
import uuid
from collections import Counter
from pathlib import Path

from tests.conftest import wait_until
from tests.couplings.sigkill_coupling import NAME
from vsmesh.bus.connection import connect
from vsmesh.bus.publisher import Publisher
from vsmesh.bus.reader import Start, StreamReader
from vsmesh.events.codec import decode_message

ROOT = Path(__file__).parent.parent.parent
EVENTS = 300


def start_reactor(mesh_env: dict[str, str]) -> subprocess.Popen:
    cmd = [sys.executable, "-m", "vsmesh.runtime.reactor_main", "--extra", "tests.couplings.sigkill_coupling:couplings",
           "--only", NAME]  # fmt: skip
    env = {**os.environ, **mesh_env}
    return subprocess.Popen(cmd, env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


async def publish_slowly(settings, run: str) -> list[str]:
    nc = await connect(settings, name="test-sigkill")
    try:
        publisher = Publisher(nc.jetstream(), settings)
        ids = []
        for i in range(0, EVENTS, 10):
            events = [
                publisher.build("dev-decision-recorded", hub="dev-hub", subject=f"sigkill/{run}/{j}",
                                data={"title": f"d{j}", "decision": "go"})
                for j in range(i, i + 10)
            ]  # fmt: skip
            ids += [p.event_id for p in await publisher.publish_many(events)]
            await asyncio.sleep(0.1)  # ~3 s of arrivals: the reactor is killed mid-stream
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


def test_sigkill_during_a_stream_neither_skips_nor_doubles(settings, mesh_env):
    run = uuid.uuid4().hex[:8]
    reactor = start_reactor(mesh_env)
    publishing = subprocess_free_thread(lambda: asyncio.run(publish_slowly(settings, run)))
    kills = 0
    try:
        # Kill the reactor a few times while the events arrive, restarting it each time.
        while publishing.is_alive() or kills < 3:
            time.sleep(0.9 + 0.3 * kills)  # long enough for the restarted reactor to be at work
            reactor.send_signal(signal.SIGKILL)
            reactor.wait(10)
            kills += 1
            reactor = start_reactor(mesh_env)
        causes = publishing.result
        # After the last restart the reactor catches up: one echo per cause.
        wait_until(lambda: len({e.causationid for e in asyncio.run(echoes(settings, run))}) >= EVENTS,
                   timeout=30, what="every cause to be echoed", proc=reactor)  # fmt: skip
        emitted = asyncio.run(echoes(settings, run))
        assert len(causes) == EVENTS
        counts = Counter(e.causationid for e in emitted)
        assert set(counts) == set(causes), "a cause was skipped"
        assert max(counts.values()) == 1, "an emission was doubled"
        assert len({e.id for e in emitted}) == len(emitted) == EVENTS
        assert kills >= 3
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
