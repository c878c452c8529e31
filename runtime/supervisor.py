"""`vsmesh up`: start or reuse the embedded servers, create the streams, run the hubs, stop in order."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import os
import signal
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import structlog
from nats.aio.client import Client
from nats.js.kv import KeyValue
from sqlalchemy.ext.asyncio import AsyncEngine

from vsmesh.bus.connection import connect
from vsmesh.bus.streams import ensure_streams
from vsmesh.errors import AlreadyRunning
from vsmesh.gateway.identity.config import GatewayConfig
from vsmesh.gateway.pages.live import announcer
from vsmesh.gateway.pages.metrics import MeshHealth
from vsmesh.gateway.start import serve_gateway
from vsmesh.hubs import HUBS, declared_types, hub
from vsmesh.hubs.contract import HubContext, start_contract
from vsmesh.hubs.coupling import active_couplings
from vsmesh.hubs.registry.service import ManifestHubs
from vsmesh.hubs.vocabulary import VOCABULARIES
from vsmesh.projectors.couplings.coupling import Coupling
from vsmesh.projectors.couplings.reactor import ReactorStats, ensure_tables, start_reactors
from vsmesh.projectors.distribution.lease import lease_bucket
from vsmesh.projectors.engine.batches import ensure_schema
from vsmesh.projectors.engine.database import check_database, create_engine
from vsmesh.projectors.engine.projection import Projection
from vsmesh.projectors.engine.stats import ProjectorStats
from vsmesh.projectors.housekeeping import start_housekeeping
from vsmesh.projectors.leased import start_projectors, with_leases
from vsmesh.runtime.chain_check import sign_chain
from vsmesh.runtime.cluster import stream_replicas
from vsmesh.runtime.contract_thread import ContractThread
from vsmesh.runtime.heap import freeze_started_heap
from vsmesh.runtime.jobs import hub_jobs, package_jobs, start_jobs
from vsmesh.runtime.mesh_state import load_state, started_at, supervisor_alive
from vsmesh.runtime.nats_server import (
    issue_hub_creds,
    monitor_url,
)
from vsmesh.runtime.postgres_server import SystemPlaces
from vsmesh.runtime.servers import EmbeddedServers, mark, start_servers
from vsmesh.runtime.signing import keep_signing
from vsmesh.runtime.stalls import StallLog
from vsmesh.settings import Settings

if TYPE_CHECKING:
    from vsmesh.probes.model import ProbeFile  # imported late at run time: it loads pydantic models

log = structlog.get_logger(__name__)

STOP_GRACE_S = 2.0  # how long a clean stop waits for its tasks to end on their own before cancelling them


@dataclass(frozen=True)
class Ready:
    """What `vsmesh up` tells a person once the mesh answers."""

    seconds: float
    data_dir: Path
    nats_url: str
    nats_monitor: str | None
    database_url: str
    hubs: list[str]
    manifest_hubs: list[str]
    couplings: int
    gateway_url: str | None = None
    oidc_issuer: str = ""  # the issuer whose tokens the gateway accepts: its own unless VSMESH_OIDC_ISSUER


@dataclass
class Mesh:
    """The foreground mesh process: servers, streams and every hub's projector."""

    settings: Settings
    on_status: Callable[[str], None] = lambda line: None
    stop_event: asyncio.Event = field(default_factory=asyncio.Event)
    # Runs once every hub answers, before the mesh says it is ready (the demo: `vsmesh up` on a new data dir).
    before_ready: Callable[[Settings], Awaitable[None]] | None = None
    on_ready: Callable[[Ready], None] = lambda ready: None  # the banner of `vsmesh up`
    # The local notification inbox (notify/inbox.py): with the demo, and on every later start of a data dir that has
    # one, so the demo's route to it keeps delivering.
    inbox: bool = False
    _started: float = field(default=0.0, init=False)  # monotonic time `run` began, for "ready in N s"
    _ready: bool = field(default=False, init=False)  # every part started: /readyz answers ready
    _stalls: StallLog | None = field(default=None, init=False)  # VSMESH_STALL_LOG: what held the loop up

    async def run(self) -> None:
        """Start everything in order, each part stopping with the stack, so a failure during start-up
        stops exactly what was started before it (nats-py's micro service example does the same)."""
        self._started = time.monotonic()
        probes = _load_probes(self.settings)  # a bad VSMESH_PROBES file stops `vsmesh up` before anything starts
        package_jobs(self.settings)  # … and so does a bad file of a package's jobs (VSMESH_PULLERS)
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, self.stop_event.set)
        servers = EmbeddedServers(self.settings.data_dir.resolve(), places=SystemPlaces.of(self.settings))
        settings = self.settings.model_copy(update={"data_dir": servers.data_dir})
        before = load_state(servers.data_dir)
        if supervisor_alive(before) and before.supervisor_pid != os.getpid():
            running = before.supervisor_pid or 0
            raise AlreadyRunning(
                f"vsmesh is already up in {servers.data_dir} (pid {running}); `vsmesh down` stops it", running
            )
        async with contextlib.AsyncExitStack() as stack:
            if self.settings.stall_log is not None:
                self._stalls = StallLog(self.settings.stall_log)
                self._stalls.start(loop)
                stack.callback(self._stalls.stop)
            mark(servers.data_dir, supervisor_pid=os.getpid(), supervisor_started=started_at(os.getpid()), ready=False)
            stack.callback(log.info, "mesh stopped")
            stack.push_async_callback(self._release, servers)
            settings = await asyncio.to_thread(start_servers, settings, servers)
            if self.stop_event.is_set():
                return
            tasks, stats = await self._start(stack, settings, probes, embedded_nats=servers.nats_pid is not None)
            await self._watch(tasks, stats)

    async def _release(self, servers: EmbeddedServers) -> None:
        await asyncio.to_thread(servers.stop)
        mark(servers.data_dir, supervisor_pid=None, supervisor_started=None, ready=False, nats_pid=servers.nats_pid)

    async def _start(
        self, stack: contextlib.AsyncExitStack, settings: Settings, probes: ProbeFile | None, *, embedded_nats: bool
    ) -> tuple[list[asyncio.Task], list[ProjectorStats]]:
        """Start what each package offers, in order, on the one stack; returns the tasks to watch and the coded
        projectors' stats."""
        settings = settings if settings.hubs else settings.model_copy(update={"hubs": tuple(HUBS)})
        wired = await _wire(stack, settings, embedded_nats=embedded_nats)
        nc, js, engine, stop = wired.nc, wired.nc.jetstream(), wired.engine, self.stop_event
        tasks: list[asyncio.Task] = []
        stack.push_async_callback(_cancel, tasks, stop)  # stops first: the tasks use what closes after
        projections = await _start_hubs(wired, settings)
        # Each projector while this process holds its lease; with --partitions N, N per hub that can be split.
        # Live pages refresh when a hub applied a batch (gateway/pages/live.py).
        projectors = with_leases(projections, settings.partitions)
        on_batch = self._stalls.batch if self._stalls is not None else None
        running, stats = start_projectors(js, engine, wired.leases, projectors, settings, stop, announcer(nc), on_batch)
        reactors, couplings, reactor_stats = await _start_reactors(nc, engine, settings, stop)
        # Each hub's timed jobs (canon's checks, sec's expiries, ops' rollups) and those of the packages that are
        # not hubs (sources' reconcile and pullers): after the contracts, which they ask.
        owned = [*hub_jobs(map(hub, settings.hubs)), *package_jobs(settings)]
        jobs = start_jobs(nc, wired.leases, settings, owned, stop, replicas=wired.replicas)
        # The constitutional chain's head, signed every VSMESH_CHAIN_CHECKPOINT_EVERY events (runtime/signing.py).
        tasks += [*running, *reactors, *jobs, asyncio.create_task(keep_signing(js, settings, stop), name="signing")]
        # The registry and every hub that has only a manifest (hubs/registry/service.py).
        manifest_hubs = ManifestHubs(nc, engine, settings, stop, set(HUBS), wired.contracts)
        tasks.append(await manifest_hubs.start())
        await _prepare_notifier(nc, engine, settings)  # it tells of what is published from here on, the demo too
        await _start_inbox(stack, js, settings, wanted=self.inbox)  # its route declared before the demo publishes
        if self.before_ready is not None:
            await self.before_ready(settings)
            await manifest_hubs.refresh()  # the hubs it bootstrapped answer before the mesh says it is ready
        coded = list(zip(stats, (p for p, _ in projectors), strict=True))
        every = lambda: [*coded, *manifest_hubs.projectors]  # noqa: E731 - manifest hubs come and go
        # `vsmesh status` hears of every projector running here; the coded hubs are snapshot.
        tasks += start_housekeeping(js, engine, [p for p, _ in projectors], stats, settings, stop,
                                    running=lambda: [s for s, _ in every()])  # fmt: skip
        health = MeshHealth(js, every, couplings, reactor_stats, lambda: self._ready)
        remembered = load_state(settings.data_dir).gateway_port
        gateway, identity = await serve_gateway(
            stack,
            nc,
            engine,
            settings,
            health,
            embedded_nats=embedded_nats,
            remembered_port=remembered,
            sign_chain=sign_chain,
        )
        mark(settings.data_dir, gateway_port=gateway.port)
        if probes is not None:  # VSMESH_PROBES: the probe runner, as the service identity the gateway's issuer proves
            tasks.append(await _start_probes(probes, nc, settings, identity, stop))
        tasks += await _start_notifier(nc, engine, settings, identity, stop)
        # Everything started is there for good: out of the collector's walks (runtime/heap.py).
        frozen = freeze_started_heap()
        if self._stalls is not None:
            self._stalls.frozen(frozen)
        mark(settings.data_dir, ready=True, gateway_url=gateway.url)
        self._ready = True
        log.info("mesh up", nats=settings.nats_url, hubs=list(settings.hubs), data_dir=str(settings.data_dir),
                 frozen_objects=frozen)  # fmt: skip
        monitor = load_state(settings.data_dir).nats_monitor_port if embedded_nats else None
        self.on_ready(
            Ready(
                seconds=time.monotonic() - self._started,
                data_dir=settings.data_dir,
                nats_url=settings.nats_url or "",
                nats_monitor=monitor_url(monitor) if monitor else None,
                database_url=settings.database_url or "",
                hubs=list(settings.hubs),
                manifest_hubs=sorted(manifest_hubs.running),
                couplings=len(couplings),
                gateway_url=gateway.url,
                oidc_issuer=identity.issuer,
            )
        )
        return tasks, stats

    async def _watch(self, tasks: list[asyncio.Task], stats: list) -> None:
        while not self.stop_event.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.stop_event.wait(), 1.0)
            for t in [t for t in tasks if t.done() and not t.cancelled() and t.exception() is not None]:
                # A failed task reports and stays down; the others keep running.
                log.error("task failed", task=t.get_name(), error=str(t.exception()))
                tasks.remove(t)
            errors = "; ".join(f"{s.name}: {s.last_error}" for s in stats if s.last_error)
            self.on_status(
                f"{sum(s.applied for s in stats)} events applied ("
                + ", ".join(f"{s.name} {s.applied}" for s in stats)
                + ")"
                + (f"  ERROR {errors}" if errors else "")
            )


@dataclass(frozen=True)
class Wired:
    """What every part of the mesh shares: the admin connection, the database, the contracts' own loop, the
    stream replicas and the lease bucket."""

    nc: Client
    engine: AsyncEngine
    contracts: ContractThread
    replicas: int
    leases: KeyValue


async def _wire(stack: contextlib.AsyncExitStack, settings: Settings, *, embedded_nats: bool) -> Wired:
    """One admin connection carries the mesh infrastructure: streams, projectors, housekeeping, reactors
    (couplings) and leases need consumers, KV and object stores and cross-hub publishing. Each hub's contract
    answers on a connection of its own hub user instead (bus/contract_identity.py), where the data dir holds that
    user, i.e. when this process runs the embedded nats-server, and on an event loop of its own
    (runtime/contract_thread.py): a coupling catching up never delays an answer."""
    nc = await connect(settings, name="vsmesh-up")
    stack.push_async_callback(_drain, nc)
    engine = create_engine(settings)
    stack.push_async_callback(engine.dispose)
    issue = functools.partial(issue_hub_creds, settings.data_dir) if embedded_nats else None
    contracts = await stack.enter_async_context(ContractThread(settings, issue))
    await check_database(engine, settings.database_url or "")
    replicas = await stream_replicas(nc, settings.replicas)  # 3 on a cluster (runtime/cluster.py)
    await ensure_streams(nc.jetstream(), replicas=replicas, max_msg_bytes=settings.max_event_bytes)
    leases = await lease_bucket(nc.jetstream(), replicas=replicas)
    return Wired(nc, engine, contracts, replicas, leases)


async def _start_hubs(wired: Wired, settings: Settings) -> list[Projection]:
    """Every coded hub's vocabulary, tables, then contract (a read needs the tables; a contract answers before its
    hub's projector runs); returns their projections."""
    for slug in HUBS:  # a contract refuses what its hub does not declare
        VOCABULARIES.declare_coded(slug, declared_types(slug), hub(slug).annotation_categories)
    projections = [hub(slug).make_projection() for slug in settings.hubs]
    for projection in projections:
        await ensure_schema(wired.engine, projection, projection.schema)
    for slug in settings.hubs:
        await _start_contract(wired.contracts, settings, slug)
    return projections


async def _cancel(tasks: list[asyncio.Task], stop: asyncio.Event) -> None:
    if stop.is_set() and tasks:
        # A clean stop lets the tasks end on their own first: a leased projector then releases its lease and a
        # partitioned one its candidacy (projectors/distribution/lease.py), and another process takes over within a
        # renewal instead of a TTL later (tests/cluster/test_partitions.py). Cancelled at once, they held on for 4 s.
        _, running = await asyncio.wait(tasks, timeout=STOP_GRACE_S)
        if running:
            log.info("tasks cancelled after the stop's grace", tasks=sorted(t.get_name() for t in running))
    for t in tasks:
        t.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    log.info("projectors stopped", tasks=len(tasks))  # with the reactors and housekeeping: before the servers


async def _drain(nc) -> None:
    with contextlib.suppress(Exception):
        await nc.drain()


async def _start_contract(contracts: ContractThread, settings: Settings, slug: str) -> None:
    """A coded hub's contract, answering and publishing as the hub's own user where there is one."""
    package = hub(slug)

    async def start(nc, engine):
        ctx = HubContext(slug, package.make_projection(), engine, nc.jetstream(), settings)
        return await start_contract(nc, ctx, package.make_operations())

    await contracts.serve(slug, start)


def _load_probes(settings: Settings) -> ProbeFile | None:
    from vsmesh.probes.model import load_probe_file

    return None if settings.probes is None else load_probe_file(settings.probes)


async def _start_probes(
    probes: ProbeFile, nc, settings: Settings, gateway: GatewayConfig, stop: asyncio.Event
) -> asyncio.Task:
    """The probe runner of VSMESH_PROBES, publishing as VSMESH_PROBES_ACTOR's verified identity: a service
    client of the gateway's issuer (registered here with the local one)."""
    from vsmesh.gateway.identity.service_identity import service_identity
    from vsmesh.probes.runner import Identity, run_probes

    principal = await service_identity(gateway, settings.probes_actor, register=True)
    identity = Identity(principal.subject, principal.kind)
    log.info("probes running", file=str(settings.probes), probes=len(probes.probes), actor=identity.actor)
    return asyncio.create_task(run_probes(probes, nc, settings, os.environ, stop, identity), name="probes")


async def _prepare_notifier(nc, engine, settings: Settings) -> None:
    from vsmesh.notify.service import prepare_notifier

    await prepare_notifier(nc, engine, settings)


async def _start_inbox(stack: contextlib.AsyncExitStack, js, settings: Settings, *, wanted: bool) -> None:
    """The local notification inbox in the data dir, and canon's route to it (notify/inbox.py)."""
    from vsmesh.notify.inbox import Inbox, declare_policy, demo_places

    places = demo_places(settings.data_dir)
    if wanted or places.root.exists():
        inbox = await stack.enter_async_context(Inbox(places))
        await declare_policy(js, settings, inbox)


async def _start_notifier(
    nc, engine, settings: Settings, gateway: GatewayConfig, stop: asyncio.Event
) -> list[asyncio.Task]:
    """The notifier, where it runs (notify/service.py), publishing its record as VSMESH_NOTIFY_ACTOR's verified
    identity, as the probes do."""
    from vsmesh.gateway.identity.service_identity import service_identity
    from vsmesh.notify.service import runs_here, start_notifier

    if not runs_here(settings):
        return []
    principal = await service_identity(gateway, settings.notify_actor, register=True)
    tasks, _ = await start_notifier(nc, engine, settings, os.environ, (principal.subject, principal.kind), stop)
    return tasks


async def _start_reactors(
    nc, engine, settings: Settings, stop: asyncio.Event
) -> tuple[list[asyncio.Task], list[Coupling], list[ReactorStats]]:
    """The couplings of the hubs this process runs (the reacting hub owns them), minus the disabled ones."""
    await ensure_tables(engine)
    couplings = [c for c in active_couplings(settings) if c.target_hub in settings.hubs]
    tasks, stats = start_reactors(nc, engine, settings, couplings, stop)
    log.info("reactors running", couplings=[c.name for c in couplings])
    return tasks, couplings, stats
