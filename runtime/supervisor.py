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

from vsmesh.bus.connection import connect
from vsmesh.bus.creds import GATEWAY_USER, load_creds
from vsmesh.bus.streams import ensure_streams
from vsmesh.errors import AlreadyRunning
from vsmesh.gateway.app import create_app
from vsmesh.gateway.identity.config import GatewayConfig, make_verifier
from vsmesh.gateway.identity.resource import authenticate
from vsmesh.gateway.identity.signin import SignIn
from vsmesh.gateway.mcp.mcp_server import mcp_app
from vsmesh.gateway.pages.live import AppliedFeed, announcer
from vsmesh.gateway.pages.metrics import MeshHealth, metrics_routes
from vsmesh.gateway.pages.web import Pages
from vsmesh.gateway.server import Served, bind, serve, url_of
from vsmesh.hubs import HUBS, declared_types, hub
from vsmesh.hubs.contract import HubContext, start_contract
from vsmesh.hubs.coupling import active_couplings
from vsmesh.hubs.registry.service import ManifestHubs
from vsmesh.hubs.vocabulary import VOCABULARIES
from vsmesh.projectors.couplings.coupling import Coupling
from vsmesh.projectors.couplings.reactor import ReactorStats, ensure_tables, start_reactors
from vsmesh.projectors.distribution.lease import lease_bucket, run_leased
from vsmesh.projectors.distribution.lease_share import LeaseShare
from vsmesh.projectors.engine.batches import ensure_schema
from vsmesh.projectors.engine.database import check_database, create_engine
from vsmesh.projectors.engine.partitions import partitions_of
from vsmesh.projectors.engine.projection import Projection
from vsmesh.projectors.engine.stats import ProjectorStats
from vsmesh.projectors.housekeeping import start_housekeeping
from vsmesh.projectors.runner import run_projection
from vsmesh.runtime.cluster import stream_replicas
from vsmesh.runtime.contract_thread import ContractThread
from vsmesh.runtime.jobs import start_jobs
from vsmesh.runtime.mesh_state import MeshState, fill_from, load_state, pid_alive, save_state
from vsmesh.runtime.nats_server import (
    configure_nats,
    issue_hub_creds,
    monitor_url,
    port_answers,
    reload_nats,
    start_nats,
    stop_pid,
)
from vsmesh.runtime.postgres_server import SystemPlaces, postmaster_pid, start_postgres, stop_postgres
from vsmesh.runtime.signing import keep_signing
from vsmesh.settings import Settings

if TYPE_CHECKING:
    from vsmesh.probes.model import ProbeFile  # imported late at run time: it loads pydantic models

log = structlog.get_logger(__name__)

STOP_GRACE_S = 2.0  # how long a clean stop waits for its tasks to end on their own before cancelling them


@dataclass
class EmbeddedServers:
    """What this `up` owns: the servers it started or adopted under its data dir."""

    data_dir: Path
    nats_pid: int | None = None
    postgres: bool = False
    places: SystemPlaces = field(default_factory=SystemPlaces)

    @property
    def pgdata(self) -> Path:
        return self.data_dir / "postgres"

    def stop(self) -> None:
        try:
            if self.nats_pid:
                stop_pid(self.nats_pid)
                log.info("nats-server stopped", pid=self.nats_pid)  # the order of these lines is the README's promise
                self.nats_pid = None
        finally:  # whatever failed before, PostgreSQL is not left running (it runs in a session of its own)
            if self.postgres:
                stop_postgres(self.pgdata, self.places)
                log.info("postgresql stopped")
                self.postgres = False


def start_servers(settings: Settings, servers: EmbeddedServers) -> Settings:
    """Start (or reuse) whatever the env does not point elsewhere; returns settings that reach them.

    What it starts is recorded in `servers` as it goes, so a failure half-way can still stop it.
    """
    data_dir = servers.data_dir
    data_dir.mkdir(parents=True, exist_ok=True)
    state = load_state(data_dir)
    if not settings.nats_url:
        if pid_alive(state.nats_pid) and state.nats_port and port_answers(state.nats_port):
            log.info("reusing nats-server", pid=state.nats_pid, port=state.nats_port)
            # Its users may predate this build or a new hub: rewrite them and let it reload.
            configure_nats(
                data_dir, port=state.nats_port, password=state.nats_password, monitor_port=state.nats_monitor_port
            )
            reload_nats(state.nats_pid, state.nats_monitor_port)
        else:
            nats = start_nats(
                data_dir, port=state.nats_port, password=state.nats_password, monitor_port=state.nats_monitor_port
            )
            state.nats_pid, state.nats_port, state.nats_url = nats.pid, nats.port, nats.url
            state.nats_user, state.nats_password = nats.user, nats.password
            state.nats_monitor_port = nats.monitor_port
            log.info("nats-server started", pid=nats.pid, url=nats.url, monitor=monitor_url(nats.monitor_port))
        servers.nats_pid = state.nats_pid
        save_state(data_dir, state)
    if not settings.database_url:
        reused = postmaster_pid(servers.pgdata) is not None
        servers.postgres = True
        state.database_url = start_postgres(servers.pgdata, servers.places)
        log.info("postgresql " + ("reused" if reused else "started"), url=state.database_url)
    save_state(data_dir, state)
    return fill_from(settings, state)


def mark(data_dir: Path, **changes: object) -> None:
    state = load_state(data_dir)
    for k, v in changes.items():
        setattr(state, k, v)
    save_state(data_dir, state)


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
    _started: float = field(default=0.0, init=False)  # monotonic time `run` began, for "ready in N s"
    _ready: bool = field(default=False, init=False)  # every part started: /readyz answers ready

    async def run(self) -> None:
        """Start everything in order, each part stopping with the stack, so a failure during start-up
        stops exactly what was started before it (nats-py's micro service example does the same)."""
        self._started = time.monotonic()
        probes = _load_probes(self.settings)  # a bad VSMESH_PROBES file stops `vsmesh up` before anything starts
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, self.stop_event.set)
        servers = EmbeddedServers(self.settings.data_dir.resolve(), places=SystemPlaces.of(self.settings))
        settings = self.settings.model_copy(update={"data_dir": servers.data_dir})
        running = load_state(servers.data_dir).supervisor_pid
        if pid_alive(running) and running != os.getpid():
            raise AlreadyRunning(
                f"vsmesh is already up in {servers.data_dir} (pid {running}); `vsmesh down` stops it", running
            )
        async with contextlib.AsyncExitStack() as stack:
            mark(servers.data_dir, supervisor_pid=os.getpid(), ready=False)
            stack.callback(log.info, "mesh stopped")
            stack.push_async_callback(self._release, servers)
            settings = await asyncio.to_thread(start_servers, settings, servers)
            if self.stop_event.is_set():
                return
            tasks, stats = await self._start(stack, settings, probes, embedded_nats=servers.nats_pid is not None)
            await self._watch(tasks, stats)

    async def _release(self, servers: EmbeddedServers) -> None:
        await asyncio.to_thread(servers.stop)
        mark(servers.data_dir, supervisor_pid=None, ready=False, nats_pid=servers.nats_pid)

    async def _start(
        self, stack: contextlib.AsyncExitStack, settings: Settings, probes: ProbeFile | None, *, embedded_nats: bool
    ) -> tuple[list[asyncio.Task], list[ProjectorStats]]:
        """Start every hub; returns the tasks to watch and the projectors' stats.

        One admin connection carries the mesh infrastructure: streams, projectors, housekeeping,
        reactors (couplings) and leases need consumers, KV and object stores and cross-hub publishing.
        Each hub's contract answers on a connection of its own hub user instead (bus/contract_identity.py),
        where the data dir holds that user, i.e. when this process runs the embedded nats-server, and on
        an event loop of its own (runtime/contract_thread.py): a coupling catching up never delays an answer.
        """
        if not settings.hubs:
            settings = settings.model_copy(update={"hubs": tuple(HUBS)})
        for slug in HUBS:  # a contract refuses what its hub does not declare
            VOCABULARIES.declare_coded(slug, declared_types(slug))
        nc = await connect(settings, name="vsmesh-up")
        stack.push_async_callback(_drain, nc)
        engine = create_engine(settings)
        stack.push_async_callback(engine.dispose)
        issue = functools.partial(issue_hub_creds, settings.data_dir) if embedded_nats else None
        contracts = await stack.enter_async_context(ContractThread(settings, issue))  # a loop of their own
        tasks: list[asyncio.Task] = []
        stack.push_async_callback(_cancel, tasks, self.stop_event)  # stops first: the tasks use what closes after

        await check_database(engine, settings.database_url or "")
        replicas = await stream_replicas(nc, settings.replicas)  # 3 on a cluster (runtime/cluster.py)
        await ensure_streams(nc.jetstream(), replicas=replicas, max_msg_bytes=settings.max_event_bytes)
        js = nc.jetstream()
        leases = await lease_bucket(js, replicas=replicas)
        for slug in settings.hubs:  # before anything answers: a contract read needs the tables
            projection = hub(slug).make_projection()
            await ensure_schema(engine, projection, projection.schema)
        for slug in settings.hubs:  # each contract answers before its hub's projector runs
            await _start_contract(contracts, settings, slug)
        announce = announcer(nc)  # live pages refresh when a hub applied a batch (gateway/pages/live.py)
        projectors = _projectors(settings)  # with --partitions N, N per hub that can be split
        stats = [ProjectorStats(p.hub, partition=p.partition.label if p.partition else "", on_applied=announce)
                 for p, _ in projectors]  # fmt: skip
        # Each projector runs only while this process holds its lease (projectors/distribution/lease.py):
        # `projector.<hub>`, or `projector.<hub>.p<k>` for a partition, of which each process holds its share
        # (lease_share.py).
        shares = {p.hub: LeaseShare(js, leases, p.hub, p.partition.count) for p, _ in projectors if p.partition}
        tasks += [
            asyncio.create_task(
                run_leased(
                    leases,
                    lease,
                    lambda stop, s=s, p=p: run_projection(nc.jetstream(), engine, p, settings, stop, s),
                    self.stop_event,
                    share=shares.get(p.hub),
                ),
                name=f"projector:{s.name}",
            )
            for s, (p, lease) in zip(stats, projectors, strict=True)
        ]
        tasks += start_housekeeping(
            nc.jetstream(), engine, [p for p, _ in projectors], stats, settings, self.stop_event
        )
        reactors, couplings, reactor_stats = await _start_reactors(nc, engine, settings, self.stop_event)
        tasks += reactors
        # Each hub's timed jobs (canon's checks, sec's expiries, ops' rollups), one process per deployment each:
        # after the contracts answer, which some of them ask.
        jobs = [hub(slug) for slug in settings.hubs]
        tasks += start_jobs(nc, leases, settings, jobs, self.stop_event, replicas=replicas)
        # The constitutional chain's head, signed every VSMESH_CHAIN_CHECKPOINT_EVERY events (runtime/signing.py).
        tasks.append(asyncio.create_task(keep_signing(js, settings, self.stop_event), name="chain-signing"))
        # The registry and every hub that has only a manifest (hubs/registry/service.py).
        manifest_hubs = ManifestHubs(nc, engine, settings, self.stop_event, set(HUBS), contracts)
        tasks.append(await manifest_hubs.start())
        if self.before_ready is not None:
            await self.before_ready(settings)
            await manifest_hubs.refresh()  # the hubs it bootstrapped answer before the mesh says it is ready
        coded = list(zip(stats, (p for p, _ in projectors), strict=True))
        health = MeshHealth(
            js, lambda: [*coded, *manifest_hubs.projectors], couplings, reactor_stats, lambda: self._ready
        )
        gateway, identity = await _serve_gateway(stack, nc, engine, settings, health, embedded_nats=embedded_nats)
        if probes is not None:  # VSMESH_PROBES: the probe runner, as the service identity the gateway's issuer proves
            tasks.append(await _start_probes(probes, nc, settings, identity, self.stop_event))
        mark(settings.data_dir, ready=True, gateway_url=gateway.url)
        self._ready = True
        log.info("mesh up", nats=settings.nats_url, hubs=list(settings.hubs), data_dir=str(settings.data_dir))
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


def _projectors(settings: Settings) -> list[tuple[Projection, str]]:
    """Each projector this process runs, with its lease name: one per hub, or its partitions."""
    out = []
    for slug in settings.hubs:
        projection = hub(slug).make_projection()
        parts = partitions_of(projection.entity_types, settings.partitions)
        if settings.partitions > 1 and not parts:
            log.info("hub not partitioned: it declares no entity-keyed event types", hub=slug)
        out += [(projection.for_partition(p), p.lease(slug)) for p in parts] or [(projection, slug)]
    return out


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


async def _start_reactors(
    nc, engine, settings: Settings, stop: asyncio.Event
) -> tuple[list[asyncio.Task], list[Coupling], list[ReactorStats]]:
    """The couplings of the hubs this process runs (the reacting hub owns them), minus the disabled ones."""
    await ensure_tables(engine)
    couplings = [c for c in active_couplings(settings) if c.target_hub in settings.hubs]
    tasks, stats = start_reactors(nc, engine, settings, couplings, stop)
    log.info("reactors running", couplings=[c.name for c in couplings])
    return tasks, couplings, stats


async def _serve_gateway(
    stack: contextlib.AsyncExitStack, nc, engine, settings: Settings, health: MeshHealth, *, embedded_nats: bool
) -> tuple[Served, GatewayConfig]:
    """The gateway on loopback, stopped with everything else: identity (protected-resource metadata, the
    local issuer unless VSMESH_OIDC_ISSUER, /whoami), /metrics and the health checks, MCP, the pages."""
    feed = AppliedFeed(nc)
    await feed.start()
    stack.push_async_callback(feed.stop)
    remembered = load_state(settings.data_dir).gateway_port
    sock = bind(settings.gateway_host, settings.gateway_port, remembered)
    config = GatewayConfig.of(settings, url_of(sock))  # the issuer names itself by the URL it answers on
    verifier = make_verifier(config)
    mcp_routes, mcp_lifespan = mcp_app(
        settings, await _gateway_connection(stack, nc, settings, embedded_nats), authenticate(verifier)
    )
    # The pages last: their `/{slug}` route would take any path before it.
    # People sign in to the pages with the same issuer and verifier (gateway/identity/signin.py).
    sign_in = SignIn(config.issuer, verifier, local_issuer=config.local_issuer)
    routes = [*metrics_routes(health), *mcp_routes, *Pages(nc, feed, engine, sign_in).routes()]
    served = await serve(create_app(config, routes, lifespan=mcp_lifespan, verifier=verifier), sock)
    stack.push_async_callback(served.stop)
    mark(settings.data_dir, gateway_port=sock.getsockname()[1])
    return served, config


async def _gateway_connection(stack: contextlib.AsyncExitStack, nc, settings: Settings, embedded_nats: bool):
    """The MCP server's NATS connection: the `gateway` user (contract requests, no events but its refusals)
    on the embedded nats-server; on external NATS, the connection `vsmesh up` was given."""
    creds = load_creds(settings.data_dir, GATEWAY_USER) if embedded_nats else None
    if creds is None:
        return nc
    own = await connect(
        settings.model_copy(update={"nats_user": creds.user, "nats_password": creds.password}), name="vsmesh-gateway"
    )
    stack.push_async_callback(_drain, own)
    return own


def stop_mesh(settings: Settings, timeout: float = 30.0) -> str:
    """`vsmesh down`: ask the supervisor to stop; if it is gone, stop the servers it left."""
    data_dir = settings.data_dir.resolve()
    state: MeshState = load_state(data_dir)
    if pid_alive(state.supervisor_pid):
        os.kill(state.supervisor_pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while pid_alive(state.supervisor_pid) and time.monotonic() < deadline:
            time.sleep(0.1)
        if pid_alive(state.supervisor_pid):
            return f"mesh (pid {state.supervisor_pid}) did not stop in {timeout:.0f} s"
        return f"mesh in {data_dir} stopped"
    nats_pid = state.nats_pid if pid_alive(state.nats_pid) else None
    left = EmbeddedServers(data_dir, nats_pid=nats_pid, places=SystemPlaces.of(settings))
    left.postgres = postmaster_pid(left.pgdata) is not None
    if not left.nats_pid and not left.postgres:
        return f"no mesh running in {data_dir}"
    left.stop()
    mark(data_dir, supervisor_pid=None, ready=False, nats_pid=None)
    return f"servers left in {data_dir} stopped"
