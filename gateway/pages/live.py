"""Live pages without polling: a hub's live projector says when it applied a batch, and open pages listen.

The projector's hook (`announce`, wired by runtime/supervisor.py) publishes the hub's positions on core NATS
`mesh.applied.{hub}` after each committed batch, with the batch's subjects in a header when it held few;
`AppliedFeed` follows those subjects and tells the live views of the pages showing that hub
(gateway/pages/views.py), which render once per page kind and push what changed to every open page.
"""

from __future__ import annotations

import contextlib
from collections import defaultdict
from collections.abc import Callable

import msgspec
import structlog
from nats.aio.client import Client
from nats.aio.msg import Msg

from vsmesh.bus.subjects import APPLIED, applied_subject
from vsmesh.projectors.engine.stats import ProjectorStats

log = structlog.get_logger(__name__)

SUBJECTS_HEADER = "Vsmesh-Subjects"  # the batch's event subjects, space-separated (none: a big batch)

# What a hub's batch changed: the subjects of its events, or None when not told (re-read everything).
Changed = frozenset[str] | None
Watcher = Callable[[str, Changed], None]


def announcer(nc: Client):
    """The `ProjectorStats.on_applied` hook that tells live pages a hub moved."""

    async def announce(stats: ProjectorStats) -> None:
        headers = {SUBJECTS_HEADER: " ".join(stats.batch_subjects)} if stats.batch_subjects else None
        with contextlib.suppress(Exception):  # a page's refresh is never worth a projector's batch
            await nc.publish(applied_subject(stats.hub), msgspec.json.encode(stats.positions), headers=headers)

    return announce


class AppliedFeed:
    """Follows `mesh.applied.>` and tells any number of watchers which of their hubs moved, with what."""

    def __init__(self, nc: Client) -> None:
        self.nc = nc
        self._watchers: dict[str, set[Watcher]] = defaultdict(set)
        self._sub = None

    async def start(self) -> None:
        self._sub = await self.nc.subscribe(f"{APPLIED}.>", cb=self._on_applied)

    async def stop(self) -> None:
        if self._sub is not None:
            with contextlib.suppress(Exception):
                await self._sub.unsubscribe()

    async def _on_applied(self, msg: Msg) -> None:
        hub = msg.subject.removeprefix(APPLIED + ".")
        told = (msg.headers or {}).get(SUBJECTS_HEADER)
        changed = frozenset(told.split()) if told else None
        for watch in list(self._watchers.get(hub, ())):
            watch(hub, changed)

    def watch(self, hubs: tuple[str, ...], watcher: Watcher) -> Callable[[], None]:
        """Call `watcher(hub, changed)` whenever one of `hubs` applied a batch; returns the way to stop."""
        for hub in hubs:
            self._watchers[hub].add(watcher)

        def unwatch() -> None:
            for hub in hubs:
                self._watchers[hub].discard(watcher)

        return unwatch
