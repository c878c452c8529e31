"""The notifier as `vsmesh up` runs it: a planner per horizon stream and one deliverer, sharing their state.

It publishes its record (deliveries, failures, suppressions, silences' expiry) as the service identity the
gateway's issuer proves (`VSMESH_NOTIFY_ACTOR`), like the probe runner: never as a name it gives itself.

Of several processes running it (every `vsmesh up` with canon-hub), one plans and delivers at a time: the holder
of the lease `notifier` (projectors/distribution/lease.py); the others stand by. A holder that dies is replaced
once the lease's TTL ran out, and the new one starts from the ledger: what the dead one had planned and not yet
recorded as delivered goes out again with the same webhook-id, never with another.
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
from vsmesh.projectors.distribution.lease import lease_bucket, run_leased
from vsmesh.settings import Settings

log = structlog.get_logger(__name__)

LEASE = "notifier"  # its key in the lease bucket


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
    """The notifier's task (planning and delivering while this process holds its lease) and the state status and
    metrics read."""
    await ensure_ledger(engine)
    state = NotifierState()
    js = nc.jetstream()
    as_actor = settings.model_copy(update={"actor": actor[0], "actor_kind": actor[1]})
    publisher = Publisher(js, as_actor, source="vsmesh/notify")

    async def work(stop_work: asyncio.Event) -> None:
        await state.load(engine)  # afresh: another holder may have moved the ledger on since
        planners = [Planner(js, engine, state, stream, settings.reactor_save_every_s) for stream in STREAMS]
        tasks = [asyncio.create_task(p.run(stop_work), name=f"notify:{p.stream}") for p in planners]
        deliverer = Deliverer(engine, publisher, state, environ, settings.data_dir)
        tasks.append(asyncio.create_task(deliverer.run(stop_work), name="notify:delivery"))
        log.info("notifier running", actor=actor[0], routes=len(state.routing.routes))
        try:
            await asyncio.gather(*tasks)
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            log.info("notifier stopped here", actor=actor[0])

    leases = await lease_bucket(js)  # made by `vsmesh up` with the streams' replicas; on first use elsewhere
    task = asyncio.create_task(run_leased(leases, LEASE, work, stop, key=LEASE), name="notify")
    return [task], state
