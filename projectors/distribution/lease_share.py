"""Partition leases shared between processes: `vsmesh up --partitions N` on several machines splits the work.

Each process running a hub's partitions registers as a candidate (`candidate.<hub>.<id>` in the lease
bucket, renewed with the leases; deleted when the process stops, gone a TTL after one that died) and holds
at most its fair share of the hub's N partition leases: ceil(N / candidates). A process alone takes them
all; when a second one starts, the first hands over the leases above its share (the highest partitions
first, by the usual release) and the second takes them within a renewal or two. Which process holds which
lease stays the lease's business (projectors/distribution/lease.py): the share only says when to try and when to let go.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
import uuid

from nats.errors import Error as NatsError
from nats.js import JetStreamContext
from nats.js.errors import KeyNotFoundError
from nats.js.kv import KeyValue

from vsmesh.projectors.distribution.lease import BUCKET, RENEW_S

_STREAM = f"KV_{BUCKET}"


class LeaseShare:
    """One process's share of one hub's partition leases."""

    def __init__(self, js: JetStreamContext, kv: KeyValue, hub: str, count: int) -> None:
        self.js, self.kv, self.hub, self.count = js, kv, hub, count
        self.key = f"candidate.{hub}.{uuid.uuid4().hex}"
        self.held: set[str] = set()  # lease names held (or being taken) by this process
        self._candidates = 1
        self._refreshed = -math.inf
        self._left = False
        self._lock = asyncio.Lock()

    @property
    def fair(self) -> int:
        """How many of the hub's partition leases this process may hold."""
        return math.ceil(self.count / max(1, self._candidates))

    async def refresh(self) -> None:
        """Say we are here and count who else is (at most once per renewal period, for all partitions)."""
        async with self._lock:
            if self._left or time.monotonic() - self._refreshed < RENEW_S * 0.9:
                return
            try:
                await self.kv.put(self.key, b"")
                self._candidates = max(1, await self._live_candidates())
            except (NatsError, TimeoutError, OSError):
                pass  # NATS away a moment: the last count stands; the leases themselves notice an outage
            self._refreshed = time.monotonic()

    async def _live_candidates(self) -> int:
        """The candidates whose entry is there. A process that stopped deleted its own, but the delete marker
        stays on its subject until the TTL: counted by subject alone, it kept the others at a half share for up
        to TTL_S after a clean stop."""
        prefix = f"$KV.{BUCKET}."
        info = await self.js.stream_info(_STREAM, subjects_filter=f"{prefix}candidate.{self.hub}.*")
        live = 0
        for subject in info.state.subjects or {}:
            key = subject.removeprefix(prefix)
            if key != self.key:
                try:
                    await self.kv.get(key)
                except KeyNotFoundError:  # deleted (KeyDeletedError is one), or gone since
                    continue
            live += 1
        return live

    async def leave(self) -> None:
        """This process stops: its entry goes now, so the others take its partitions within a renewal."""
        async with self._lock:
            if self._left:
                return
            self._left = True
            with contextlib.suppress(NatsError, TimeoutError, OSError):
                await self.kv.delete(self.key)

    def take(self, name: str) -> bool:
        """Reserve a place for lease `name` before trying it; False when this process holds its share."""
        if len(self.held) >= self.fair:
            return False
        self.held.add(name)
        return True

    def drop(self, name: str) -> None:
        """The lease `name` was not taken, or was released."""
        self.held.discard(name)

    def must_release(self, name: str) -> bool:
        """True for the highest-named lease held while this process holds more than its share."""
        return len(self.held) > self.fair and name == max(self.held)
