"""Contracts answer on an event loop of their own, in a thread of `vsmesh up`.

Why: one loop ran the projectors, the couplings and every contract. A contract call needs ten or so turns of
the loop (request in, each database round trip, answer out), and while a coupling caught up on 200k events
every turn also ran a slice of its work: ops-hub's summary and the registry's `list_hubs` answered about ten
times slower at p99 on an "idle" mesh whose couplings were still reading than once they had caught up
(bench/contract_under_load.py; docs/performance.md §Contracts). On a loop of its own a contract
waits for the interpreter lock instead, which the busy thread must hand over within the switch interval
(5 ms), whatever it is doing.

The thread's loop has what a contract uses and nothing shared with the main loop: its own SQLAlchemy engine
(asyncpg connections belong to the loop that opened them) and its own NATS connections (each hub's user,
bus/contract_identity.py; on external NATS one shared connection as the settings name).
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

import structlog
from nats.aio.client import Client
from sqlalchemy.ext.asyncio import AsyncEngine

from vsmesh.bus.connection import connect
from vsmesh.bus.contract_identity import ContractConnections, IssueCreds
from vsmesh.hubs.contract import StartContractOn
from vsmesh.projectors.engine.database import create_engine
from vsmesh.settings import Settings

log = structlog.get_logger(__name__)
T = TypeVar("T")


class ContractThread:
    """Serves contracts on the loop of a thread of its own (a hubs.contract.ContractHost); use as an async
    context manager on the main loop."""

    def __init__(self, settings: Settings, issue_creds: IssueCreds | None) -> None:
        self._settings, self._issue_creds = settings, issue_creds
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._run_loop, name="vsmesh-contracts", daemon=True)
        self._shared: Client | None = None
        self._engine: AsyncEngine | None = None
        self._contracts: ContractConnections | None = None

    async def __aenter__(self) -> ContractThread:
        self._thread.start()
        try:
            await self._on_thread(self._open())
        except BaseException:
            await self._stop_thread()
            raise
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        try:
            await self._on_thread(self._close())
        finally:
            await self._stop_thread()

    async def serve(self, hub: str, start: StartContractOn) -> None:
        """Start `hub`'s contract on the thread; returns once it answers (ContractConnections.serve)."""
        contracts, engine = self._contracts, self._engine
        assert contracts is not None and engine is not None, "serve() inside `async with ContractThread(...)`"
        await self._on_thread(contracts.serve(hub, lambda nc: start(nc, engine)))

    async def _on_thread(self, work: Coroutine[Any, Any, T]) -> T:
        return await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(work, self._loop))

    def _run_loop(self) -> None:
        asyncio.set_event_loop(self._loop)
        try:
            self._loop.run_forever()
        finally:
            self._loop.run_until_complete(self._loop.shutdown_asyncgens())
            self._loop.close()

    async def _open(self) -> None:
        self._engine = create_engine(self._settings)
        self._shared = await connect(self._settings, name="vsmesh-contracts")
        self._contracts = ContractConnections(self._shared, self._settings, issue_creds=self._issue_creds)

    async def _close(self) -> None:
        if self._contracts is not None:
            await self._contracts.close()
        if self._shared is not None and not self._shared.is_closed:
            try:
                await self._shared.drain()
            except Exception as e:  # noqa: BLE001 - stopping: the server may be gone already
                log.debug("contract connection not drained", error=str(e))
        if self._engine is not None:
            await self._engine.dispose()

    async def _stop_thread(self) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        await asyncio.to_thread(self._thread.join)
