"""The notifier as `vsmesh up` runs it: a planner per horizon stream and one deliverer, sharing their state.

It publishes its record (deliveries, failures, suppressions, silences' expiry) as the service identity the
gateway's issuer proves (`VSMESH_NOTIFY_ACTOR`), like the probe runner: never as a name it gives itself.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping

import structlog
from nats.aio.client import Client
from sqlalchemy.ext.asyncio import AsyncEngine

from vsmesh.bus.publisher import Publisher
from vsmesh.notify.delivery import HUB, Deliverer
from vsmesh.notify.ledger import ensure_ledger
from vsmesh.notify.planner import STREAMS, NotifierState, Planner, claim_start
from vsmesh.settings import Settings

log = structlog.get_logger(__name__)


async def prepare_notifier(nc: Client, engine: AsyncEngine, settings: Settings) -> None:
    """Where a new notifier starts telling: before what `vsmesh up` publishes next (the demo on a new data dir),
    though the notifier itself starts only once the gateway can prove its identity."""
    if runs_here(settings):
        await ensure_ledger(engine)
        js = nc.jetstream()
        for stream in STREAMS:
            await claim_start(js, engine, stream)


def runs_here(settings: Settings) -> bool:
    """With the hub its record belongs to (one notifier per deployment that runs it), unless switched off."""
    return settings.notify_enabled and HUB in settings.hubs


async def start_notifier(
    nc: Client,
    engine: AsyncEngine,
    settings: Settings,
    environ: Mapping[str, str],
    actor: tuple[str, str],
    stop: asyncio.Event,
) -> tuple[list[asyncio.Task], NotifierState]:
    """The notifier's tasks (one per stream, and the deliverer) and the state status and metrics read."""
    await ensure_ledger(engine)
    state = NotifierState()
    await state.load(engine)
    js = nc.jetstream()
    as_actor = settings.model_copy(update={"actor": actor[0], "actor_kind": actor[1]})
    publisher = Publisher(js, as_actor, source="vsmesh/notify")
    tasks = [
        asyncio.create_task(Planner(js, engine, state, stream).run(stop), name=f"notify:{stream}") for stream in STREAMS
    ]
    deliverer = Deliverer(engine, publisher, state, environ, settings.data_dir)
    tasks.append(asyncio.create_task(deliverer.run(stop), name="notify:delivery"))
    log.info("notifier running", actor=actor[0], routes=len(state.routing.routes))
    return tasks, state
