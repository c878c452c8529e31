"""Live pages without polling: a hub's live projector says when it applied a batch, and open pages listen.

The projector's hook (`announce`, wired by runtime/supervisor.py) publishes the hub's positions on core NATS
`mesh.applied.{hub}` after each committed batch; `AppliedFeed` follows those subjects and wakes the
server-sent-event streams of the pages showing that hub, which then fetch their content again. A burst of
batches becomes one refresh per `settle_s`.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import defaultdict

import msgspec
import structlog
from nats.aio.client import Client
from nats.aio.msg import Msg

from vsmesh.bus.subjects import APPLIED, applied_subject
from vsmesh.projectors.runner import ProjectorStats

log = structlog.get_logger(__name__)


def announcer(nc: Client):
    """The `ProjectorStats.on_applied` hook that tells live pages a hub moved."""

    async def announce(stats: ProjectorStats) -> None:
        with contextlib.suppress(Exception):  # a page's refresh is never worth a projector's batch
            await nc.publish(applied_subject(stats.hub), msgspec.json.encode(stats.positions))

    return announce


class AppliedFeed:
    """Follows `mesh.applied.>` and lets any number of listeners wait for their hubs to move."""

    def __init__(self, nc: Client) -> None:
        self.nc = nc
        self._listeners: dict[str, set[asyncio.Queue[str]]] = defaultdict(set)
        self._sub = None

    async def start(self) -> None:
        self._sub = await self.nc.subscribe(f"{APPLIED}.>", cb=self._on_applied)

    async def stop(self) -> None:
        if self._sub is not None:
            with contextlib.suppress(Exception):
                await self._sub.unsubscribe()

    async def _on_applied(self, msg: Msg) -> None:
        hub = msg.subject.removeprefix(APPLIED + ".")
        for queue in list(self._listeners.get(hub, ())):
            if queue.empty():  # one pending wake-up is enough: the page fetches the latest state anyway
                queue.put_nowait(hub)

    async def listen(self, hubs: tuple[str, ...], *, settle_s: float = 0.02, idle_s: float | None = None):
        """Yields a hub's name each time one of `hubs` applied something (bursts settle into one), and None
        after `idle_s` without any (a keep-alive for the caller); the wait never cancels the generator."""
        queue: asyncio.Queue[str] = asyncio.Queue(maxsize=1)
        for hub in hubs:
            self._listeners[hub].add(queue)
        try:
            while True:
                try:
                    hub = await asyncio.wait_for(queue.get(), idle_s)
                except TimeoutError:
                    yield None
                    continue
                await asyncio.sleep(settle_s)
                with contextlib.suppress(asyncio.QueueEmpty):
                    queue.get_nowait()
                yield hub
        finally:
            for hub in hubs:
                self._listeners[hub].discard(queue)
