"""A follower's position stored lazily: at once with what a batch changed, otherwise every few seconds and at stop.

A coupling or the notify planner mostly reads events it does nothing with; a transaction per such batch only to
move the position was most of its cost on the live path. Re-reading them after a crash does nothing again, so
their position may wait in memory: the follower reports `handled` (its status shows it), and `stored` catches up
with the next batch that writes, by `keep` every `every_s` while it runs, and by `flush` at stop.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable

import structlog

log = structlog.get_logger(__name__)
Logger = structlog.typing.FilteringBoundLogger


class LazyPosition:
    """Through which sequence a follower has handled its stream, and through which that is stored.

    `store(seq)` stores the position alone, in a transaction of its own. A batch that writes stores its position
    in its own transaction inside `writing(seq)`; the saver never interleaves with it, so the stored position only
    moves forward and never past what a batch has yet to write."""

    def __init__(self, store: Callable[[int], Awaitable[None]], every_s: float, position: int = 0) -> None:
        self._store, self.every_s = store, every_s
        self.handled = self.stored = position
        self.stored_at = time.monotonic()
        self._lock = asyncio.Lock()

    def reset(self, position: int) -> None:
        self.handled = self.stored = position
        self.stored_at = time.monotonic()

    def due(self) -> bool:
        """Whether a batch that writes nothing should store its position anyway (it has waited `every_s`)."""
        return time.monotonic() - self.stored_at >= self.every_s

    def passed(self, seq: int) -> None:
        """A batch through `seq` needed nothing stored: its position waits in memory."""
        self.handled = max(self.handled, seq)

    @contextlib.asynccontextmanager
    async def writing(self, seq: int) -> AsyncIterator[None]:
        """Around a batch's transaction that stores position `seq` with what it wrote."""
        async with self._lock:
            yield
            self.handled = max(self.handled, seq)
            self.stored, self.stored_at = max(self.stored, seq), time.monotonic()

    async def flush(self) -> None:
        """Store what was handled, if it ran ahead of what is stored."""
        async with self._lock:
            seq = self.handled
            if seq <= self.stored:
                return
            await self._store(seq)
            self.stored, self.stored_at = seq, time.monotonic()

    async def keep(self, stop: asyncio.Event, bound: Logger = log) -> None:
        """Flush every `every_s` until `stop` (the follower flushes once more when its last batch is done)."""
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self.every_s)
            try:
                await self.flush()
            except Exception as e:  # noqa: BLE001 - kept in memory: the next flush or batch stores it
                bound.warning("position not stored; kept for the next try", error=repr(e))

    @contextlib.asynccontextmanager
    async def kept(self, stop: asyncio.Event, bound: Logger = log) -> AsyncIterator[None]:
        """`keep` while the body follows the stream; at its end (a stop, or cancelled) one last flush."""
        saver = asyncio.create_task(self.keep(stop, bound), name="position-saver")
        try:
            yield
        finally:
            saver.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await saver
            with contextlib.suppress(Exception):  # the database away at stop: the next start re-reads a little
                await self.flush()
