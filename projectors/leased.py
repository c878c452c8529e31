"""The projectors one `vsmesh up` runs: each hub's (or each of its partitions) while this process holds its lease.

Any number of processes may run the same hubs; the holder of `projector.<hub>` (or `projector.<hub>.p<k>`, of
which each process holds its share) projects and the others stand by (distribution/lease.py).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable

import structlog
from nats.js import JetStreamContext
from nats.js.kv import KeyValue
from sqlalchemy.ext.asyncio import AsyncEngine

from vsmesh.projectors.distribution.lease import run_leased
from vsmesh.projectors.distribution.lease_share import LeaseShare
from vsmesh.projectors.engine.partitions import partitions_of
from vsmesh.projectors.engine.projection import Projection
from vsmesh.projectors.engine.stats import ProjectorStats
from vsmesh.projectors.runner import run_projection
from vsmesh.settings import Settings

log = structlog.get_logger(__name__)


def with_leases(projections: Iterable[Projection], partitions: int) -> list[tuple[Projection, str]]:
    """Each projector with its lease name: one per hub, or with `partitions` > 1 one per partition of each hub
    that can be split (it declares entity-keyed event types)."""
    out: list[tuple[Projection, str]] = []
    for projection in projections:
        parts = partitions_of(projection.entity_types, partitions)
        if partitions > 1 and not parts:
            log.info("hub not partitioned: it declares no entity-keyed event types", hub=projection.hub)
        hub = projection.hub
        out += [(projection.for_partition(p), p.lease(hub)) for p in parts] or [(projection, hub)]
    return out


def start_projectors(
    js: JetStreamContext,
    engine: AsyncEngine,
    leases: KeyValue,
    projectors: list[tuple[Projection, str]],
    settings: Settings,
    stop: asyncio.Event,
    on_applied: Callable[[ProjectorStats], Awaitable[None]] | None = None,
    on_batch: Callable[[str, int, float, float], None] | None = None,
) -> tuple[list[asyncio.Task], list[ProjectorStats]]:
    """A task per projector, each projecting while this process holds its lease; and their stats, in order."""
    stats = [ProjectorStats(p.hub, partition=p.partition.label if p.partition else "", on_applied=on_applied,
                            on_batch=on_batch) for p, _ in projectors]  # fmt: skip
    shares = {p.hub: LeaseShare(js, leases, p.hub, p.partition.count) for p, _ in projectors if p.partition}
    tasks = [
        asyncio.create_task(
            run_leased(
                leases,
                lease,
                lambda stop_work, s=s, p=p: run_projection(js, engine, p, settings, stop_work, s),
                stop,
                share=shares.get(p.hub),
            ),
            name=f"projector:{s.name}",
        )
        for s, (p, lease) in zip(stats, projectors, strict=True)
    ]
    return tasks, stats
