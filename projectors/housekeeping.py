"""What `vsmesh up` runs beside its projectors: status reports for `vsmesh status`, and periodic snapshots."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence

from nats.js import JetStreamContext
from sqlalchemy.ext.asyncio import AsyncEngine

from vsmesh.projectors.engine.projection import Projection
from vsmesh.projectors.engine.stats import ProjectorStats
from vsmesh.projectors.rebuild.snapshot import snapshot_periodically
from vsmesh.projectors.status import publish_periodically
from vsmesh.settings import Settings


def start_housekeeping(
    js: JetStreamContext,
    engine: AsyncEngine,
    projections: Sequence[Projection],
    stats: Sequence[ProjectorStats],
    settings: Settings,
    stop: asyncio.Event,
    *,
    running: Callable[[], Sequence[ProjectorStats]] | None = None,
) -> list[asyncio.Task]:
    """Tasks that end when `stop` is set; each catches its own errors, since none may stop the mesh. Status is
    reported for `running` (every projector of the process, when it has more than these), snapshots for these."""
    reported = running or (lambda: stats)
    tasks = [asyncio.create_task(publish_periodically(js, reported, stop), name="status")]
    for projection, s in zip(projections, stats, strict=True):
        if projection.partition is not None:
            # A snapshot copies the tables with their positions; one partition's rows alone restore nothing whole.
            continue
        tasks.append(
            asyncio.create_task(
                snapshot_periodically(js, engine, projection, settings, stop, s), name=f"snapshots:{projection.hub}"
            )
        )
    return tasks
