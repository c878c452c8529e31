"""The manifest layer of `vsmesh up`: the registry's projector and contract, and every manifest hub.

At start it loads the registry read model (claims for the projection; active manifests so declared
types decode and are enforced), then starts a projector and a `vsmesh.{hub}.*` contract for every hub
that has a manifest but no code. Every few seconds it re-reads the registry: a newly bootstrapped hub
starts, a new manifest version takes effect.

Projectors run on the shared admin connection (mesh infrastructure: consumers, cross-stream reads);
each contract, the registry's included, answers where the contract host runs them (in `vsmesh up`, a
loop of their own: runtime/contract_thread.py), on its own hub user's connection where the mesh has one
(bus/contract_identity.py).
"""

from __future__ import annotations

import asyncio
import contextlib

import structlog
from nats.aio.client import Client
from sqlalchemy.ext.asyncio import AsyncEngine

from vsmesh.hubs.contract import ContractHost, HubContext, start_contract
from vsmesh.hubs.registry import tables as t
from vsmesh.hubs.registry.contract import manifest_hub_operations, registry_operations
from vsmesh.hubs.registry.projector import REGISTRY_HUB, RegistryFolds, manifest_projection, registry_projection
from vsmesh.hubs.registry.queries import registry_rows
from vsmesh.hubs.vocabulary import VOCABULARIES, from_row
from vsmesh.projectors.engine.batches import ensure_schema
from vsmesh.projectors.engine.projection import Projection
from vsmesh.projectors.engine.stats import ProjectorStats
from vsmesh.projectors.runner import run_projection
from vsmesh.settings import Settings

log = structlog.get_logger(__name__)
POLL_SECONDS = 0.5  # one small query; a newly bootstrapped hub answers within about this


class ManifestHubs:
    def __init__(
        self,
        nc: Client,
        engine: AsyncEngine,
        settings: Settings,
        stop: asyncio.Event,
        coded: set[str],
        contracts: ContractHost,
    ):
        self.nc, self.engine, self.settings, self.stop, self.coded = nc, engine, settings, stop, coded
        self.contracts = contracts
        self.tasks: list[asyncio.Task] = []
        self._refreshing = asyncio.Lock()  # `_keep` and `vsmesh up` (after the demo) both refresh
        self.running: set[str] = set()
        self.projectors: list[tuple[ProjectorStats, Projection]] = []  # what /metrics shows (gateway/pages/metrics.py)

    async def start(self) -> asyncio.Task:
        """Start the registry and the known manifest hubs; returns the task that keeps them (cancel to stop)."""
        folds = RegistryFolds()
        projection = registry_projection(folds)
        await ensure_schema(self.engine, projection, projection.schema)
        folds.load(await registry_rows(self.engine, t.claims, t.claims.c.slug.is_not(None)),
                   await registry_rows(self.engine, t.manifests))  # fmt: skip
        # Read-only operations, but on its own user all the same: it answers `vsmesh.registry.*` only.
        await self.contracts.serve(REGISTRY_HUB, self._contract(REGISTRY_HUB, projection, registry_operations()))
        self._run(projection)
        await self.refresh()
        return asyncio.create_task(self._keep(), name="manifest-hubs")

    def _run(self, projection: Projection) -> None:
        stats = ProjectorStats(projection.hub)
        self.projectors.append((stats, projection))
        js = self.nc.jetstream()
        run = run_projection(js, self.engine, projection, self.settings, self.stop, stats)
        self.tasks.append(asyncio.create_task(run, name=f"projector:{projection.hub}"))

    def _contract(self, slug: str, projection, operations):
        async def start(nc: Client, engine: AsyncEngine):  # the contract host's engine, on its loop
            ctx = HubContext(slug, projection, engine, nc.jetstream(), self.settings)
            return await start_contract(nc, ctx, operations)

        return start

    async def refresh(self) -> None:
        """Learn every active manifest; start every manifest hub not running yet that can start, report the others."""
        async with self._refreshing:
            await self._refresh()

    async def _refresh(self) -> None:
        for row in await registry_rows(self.engine, t.manifests, t.manifests.c.status == "active"):
            manifest = from_row(row)
            known = VOCABULARIES.active.get(manifest.slug)
            if known != manifest:
                VOCABULARIES.learn(manifest)
                log.info("manifest active", hub=manifest.slug, revision=manifest.revision)
            if manifest.slug not in self.coded and manifest.slug not in self.running:
                try:
                    await self._start_hub(manifest.slug)
                except Exception as e:  # noqa: BLE001 - that hub is tried again next refresh; the others start
                    log.error("manifest hub not started", hub=manifest.slug, error=str(e))

    async def _start_hub(self, slug: str) -> None:
        # The contract first, the projector last: if the contract cannot start yet, nothing of the hub
        # runs and the next refresh tries again (a projector started here would be started twice).
        projection = manifest_projection(slug)
        await ensure_schema(self.engine, projection, projection.schema)
        await self.contracts.serve(slug, self._contract(slug, projection, manifest_hub_operations()))
        self._run(projection)
        self.running.add(slug)
        log.info("manifest hub started", hub=slug)

    async def _keep(self) -> None:
        try:
            while not self.stop.is_set():
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.stop.wait(), POLL_SECONDS)
                if self.stop.is_set():
                    break
                try:
                    await self.refresh()
                except Exception as e:  # noqa: BLE001 - the database may be away a moment; try again
                    log.warning("registry refresh failed", error=str(e))
                for task in list(self.tasks):
                    if task.done() and not task.cancelled() and task.exception() is not None:
                        log.error("projector failed", task=task.get_name(), error=str(task.exception()))
                        self.tasks.remove(task)
        finally:
            for task in self.tasks:
                task.cancel()
            await asyncio.gather(*self.tasks, return_exceptions=True)
