"""Which NATS identity each hub's contract answers with: its own service user wherever the mesh has one.

Embedded, every hub has a service user (bus/creds.py `hub_permissions`) that may publish only its own
hub's events and answer only its own contract. `vsmesh up` connects each contract service (the
`vsmesh-{hub}` micro service and the publisher of its writes) as that user, so a bug or a compromised
handler in one hub's contract cannot publish into another hub or touch stream configuration: the
server refuses it, whatever the handler does.

Projectors, housekeeping, reactors (couplings) and leases stay on the admin connection on purpose: they
are mesh infrastructure, not a hub's face. They create consumers, KV buckets and the snapshot object
store, and reactors publish into other hubs, none of which a hub user may do.

On external NATS (`VSMESH_NATS_URL`) the data dir's credentials are not that server's users, so every
contract shares the connection `vsmesh up` was given.

A hub's own connection can be closed by the server: nats-py closes a client for good on any `-ERR` other
than a permissions violation (an authorization error while the server reloads its users is one). `serve`
therefore keeps each contract answering: when its connection closes it logs in again and starts the
contract anew, so start-up converges however the reloads interleave.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import structlog
from nats.aio.client import Client

from vsmesh.bus.connection import MeshClient, connect
from vsmesh.bus.creds import Creds
from vsmesh.bus.subjects import contract_service
from vsmesh.errors import MeshNotRunning
from vsmesh.settings import Settings

log = structlog.get_logger(__name__)

# A new hub user (a manifest hub seen for the first time) exists once nats-server has reloaded its
# users after SIGHUP, which it does asynchronously: the first logins may be refused for a moment.
LOGIN_PATIENCE_S = 10.0
LOGIN_RETRY_S = 0.1

StartContract = Callable[[Client], Awaitable[Any]]  # starts the hub's service on a connection, returns it
IssueCreds = Callable[[str], Creds]  # a hub's service user, created (and the server reloaded) if new; blocking


@dataclass
class ContractConnections:
    """The NATS connection each hub's contract answers on, opened on first use, closed together.

    `issue_creds`: given when this process runs (or adopted) the nats-server whose users live in the data
    dir (runtime/nats_server.py `issue_hub_creds`), so it can give every hub its service user, issuing one
    for a hub seen for the first time; None on external NATS, where every contract shares `shared`.
    """

    shared: Client
    settings: Settings
    issue_creds: IssueCreds | None
    _own: dict[str, Client] = field(default_factory=dict)
    _services: dict[str, Any] = field(default_factory=dict)
    _keepers: dict[str, asyncio.Task] = field(default_factory=dict)

    async def serve(self, hub: str, start: StartContract) -> None:
        """Start the hub's contract and return once it answers; then keep it answering (see module doc)."""
        if hub in self._services:
            raise ValueError(f"{hub}'s contract is served already")  # a second service would answer twice
        nc = await self.for_hub(hub)
        self._services[hub] = await start(nc)
        if nc is not self.shared:
            self._keepers[hub] = asyncio.create_task(self._keep(hub, nc, start), name=f"contract:{hub}")

    async def _keep(self, hub: str, nc: MeshClient, start: StartContract) -> None:
        while True:
            await nc.closed.wait()
            log.warning("contract connection closed; logging in again", hub=hub, error=repr(nc.last_error))
            self._own.pop(hub, None)
            with contextlib.suppress(Exception):
                await self._services.pop(hub).stop()
            while True:
                try:
                    nc = await self.for_hub(hub)
                    self._services[hub] = await start(nc)
                    break
                except Exception as e:  # noqa: BLE001 - keep trying: the contract must come back
                    log.error("contract not restarted; trying again", hub=hub, error=str(e))
                    await asyncio.sleep(1.0)
            log.info("contract answering again", hub=hub)

    async def for_hub(self, hub: str) -> Client:
        """The hub's own connection when embedded, else the shared one; logs which identity, once per hub."""
        if hub in self._own and not self._own[hub].is_closed:  # a closed one is never reused: log in again
            return self._own[hub]
        if self.issue_creds is None:
            log.info(
                "contract identity",
                hub=hub,
                user=self.settings.nats_user,
                connection="shared",
                reason="external NATS: the data dir holds none of its users",
            )
            return self.shared
        creds = await asyncio.to_thread(self.issue_creds, hub)
        nc = await self._login(hub, creds)
        self._own[hub] = nc
        log.info("contract identity", hub=hub, user=creds.user, connection=contract_service(hub))
        return nc

    async def _login(self, hub: str, creds: Creds) -> Client:
        """Log in as the hub's user. A refusal past the reload is an error, never a silent run as admin."""
        settings = self.settings.model_copy(update={"nats_user": creds.user, "nats_password": creds.password})
        deadline = asyncio.get_running_loop().time() + LOGIN_PATIENCE_S
        while True:
            try:
                return await connect(settings, name=contract_service(hub))
            except MeshNotRunning as e:
                if asyncio.get_running_loop().time() > deadline:
                    raise MeshNotRunning(
                        f"{hub}'s contract cannot log in to NATS as {creds.user} ({e}); "
                        f"its credentials are in {self.settings.data_dir}/creds"
                    ) from e
                await asyncio.sleep(LOGIN_RETRY_S)

    async def close(self) -> None:
        """Stop every contract and drain every hub's own connection; the shared one is the caller's."""
        for task in self._keepers.values():
            task.cancel()
        await asyncio.gather(*self._keepers.values(), return_exceptions=True)
        self._keepers.clear()
        for service in self._services.values():
            with contextlib.suppress(Exception):
                await service.stop()
        self._services.clear()
        for nc in self._own.values():
            with contextlib.suppress(Exception):
                await nc.drain()
        self._own.clear()
