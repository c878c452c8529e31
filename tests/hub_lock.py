"""Hold a hub's write lock from a test, so its live projector (and a rebuild's swap) waits: a hub that is
behind on purpose, without sleeping and hoping."""

from __future__ import annotations

import asyncio
import threading

import asyncpg

from vsmesh.projectors.engine.batches import hub_lock_key


class HeldHubLock:
    """`with HeldHubLock(database_url, "ops-hub"):` — the hub's advisory write lock (engine.lock_hub) is held
    on a connection of its own, in a thread, so sync and async tests alike can hold it across their steps."""

    def __init__(self, database_url: str, hub: str) -> None:
        self.database_url, self.key = database_url, hub_lock_key(hub)
        self._held, self._release = threading.Event(), threading.Event()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name=f"hold-{hub}", daemon=True)

    def __enter__(self) -> HeldHubLock:
        self._thread.start()
        if not self._held.wait(30) or self._error:
            raise RuntimeError(f"could not take the hub lock: {self._error!r}")
        return self

    def __exit__(self, *exc: object) -> None:
        self._release.set()
        self._thread.join(30)

    def _run(self) -> None:
        try:
            asyncio.run(self._hold())
        except BaseException as e:  # noqa: BLE001 - reported to the test by __enter__
            self._error = e
            self._held.set()

    async def _hold(self) -> None:
        conn = await asyncpg.connect(self.database_url)
        try:
            await conn.execute("SELECT pg_advisory_lock($1)", self.key)
            self._held.set()
            await asyncio.to_thread(self._release.wait)
            await conn.execute("SELECT pg_advisory_unlock($1)", self.key)
        finally:
            await conn.close()
