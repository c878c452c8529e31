"""A throwaway hub made only of the generic core, projected and answering on the session's servers.

It runs in a thread with its own event loop, so both async tests and the in-process CLI (which calls
`asyncio.run` itself) can talk to it, over NATS only, like any other client.
"""

from __future__ import annotations

import asyncio
import secrets
import threading
from collections.abc import Iterator

import pytest
import sqlalchemy as sa

from vsmesh.bus.connection import connect
from vsmesh.bus.streams import ensure_streams
from vsmesh.hubs.contract import HubContext, start_contract
from vsmesh.hubs.core import add_core_tables, core_handlers, hub_streams
from vsmesh.hubs.core.operations import core_operations
from vsmesh.projectors.engine.batches import ensure_schema
from vsmesh.projectors.engine.database import create_engine
from vsmesh.projectors.engine.projection import Projection
from vsmesh.projectors.engine.stats import ProjectorStats
from vsmesh.projectors.runner import run_projection
from vsmesh.settings import Settings


def core_projection(slug: str) -> Projection:
    """A hub with only the core tables and handlers, on every horizon stream."""
    metadata = sa.MetaData()
    add_core_tables(metadata)
    return Projection(hub=slug, streams=hub_streams(slug), metadata=metadata, handlers=core_handlers())


class ThrowawayHub:
    """Projector plus contract of one core-only hub, in a background thread."""

    def __init__(self, settings: Settings) -> None:
        self.slug = f"core-test-{secrets.token_hex(3)}"
        self.settings = settings
        self.stats = ProjectorStats(self.slug)
        self.projection = core_projection(self.slug)
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._thread = threading.Thread(target=self._run, name=self.slug, daemon=True)

    def start(self) -> None:
        self._thread.start()
        if not self._ready.wait(30) or self._error:
            raise RuntimeError(f"{self.slug} did not start: {self._error!r}")

    def stop(self) -> None:
        if self._loop and self._stop:
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(30)

    def _run(self) -> None:
        try:
            asyncio.run(self._main())
        except BaseException as e:  # noqa: BLE001 - reported to the test through start()
            self._error = e
            self._ready.set()

    async def _main(self) -> None:
        self._loop, self._stop = asyncio.get_running_loop(), asyncio.Event()
        nc = await connect(self.settings, name=self.slug)
        engine = create_engine(self.settings)
        try:
            js = nc.jetstream()
            await ensure_streams(js)  # so the module does not need a whole `vsmesh up`
            projection = self.projection
            await ensure_schema(engine, projection, projection.schema)  # answer empty, not "no such table"
            projecting = asyncio.create_task(
                run_projection(js, engine, projection, self.settings, self._stop, self.stats)
            )
            ctx = HubContext(self.slug, projection, engine, js, self.settings)
            service = await start_contract(nc, ctx, core_operations())
            self._ready.set()
            await self._stop.wait()
            await service.stop()
            await projecting
        finally:
            await nc.close()
            await engine.dispose()


@pytest.fixture(scope="module")
def core_hub(settings: Settings) -> Iterator[ThrowawayHub]:
    hub = ThrowawayHub(settings)
    hub.start()
    yield hub
    hub.stop()
