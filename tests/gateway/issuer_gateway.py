"""The identity tests' gateway: the app with the local issuer (uvicorn on a free port, in a thread with its
own event loop) per data dir; fixtures in conftest.py."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx

from vsmesh.bus.connection import connect
from vsmesh.gateway.app import create_app
from vsmesh.gateway.identity.config import GatewayConfig, make_verifier
from vsmesh.gateway.identity.issuer import Issuer
from vsmesh.gateway.identity.resource import authenticate
from vsmesh.gateway.identity.verify import TokenVerifier
from vsmesh.gateway.people import PeopleWrites
from vsmesh.gateway.server import bind, serve, url_of
from vsmesh.settings import Settings

# (settings, the app's verifier, an exit stack) -> routes to serve beside the issuer
RoutesOf = Callable[[Settings, TokenVerifier, contextlib.AsyncExitStack], Awaitable[list]]


@dataclass
class IssuerGateway:
    url: str
    data_dir: Path
    config: GatewayConfig

    def issuer(self, **changes) -> Issuer:
        """An issuer on the same keys, e.g. with another `issuer` or `audience` (forged tokens)."""
        from dataclasses import replace

        return Issuer(replace(self.config.issuer_config(), **changes))

    def client_token(self, client_id: str, secret: str) -> str:
        answer = httpx.post(f"{self.url}/token", data={"grant_type": "client_credentials"}, auth=(client_id, secret))
        assert answer.status_code == 200, answer.text
        return answer.json()["access_token"]

    def whoami(self, token: str | None) -> httpx.Response:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return httpx.get(f"{self.url}/whoami", headers=headers)


async def people_writes(settings: Settings, verifier: TokenVerifier, stack: contextlib.AsyncExitStack) -> list:
    """Routes for `start_gateway`: people's writes (/people/...) on the session's NATS, as the mesh's own
    connection (its admin)."""
    nc = await connect(settings, name="test-people")
    stack.push_async_callback(nc.close)
    return PeopleWrites(nc, settings, authenticate(verifier)).routes()


def start_gateway(
    data_dir: Path, env: dict[str, str] | None = None, routes: RoutesOf | None = None
) -> Iterator[IssuerGateway]:
    """Serve the gateway app the way `vsmesh up` does, until the generator is closed; `env`: more `VSMESH_*`
    variables (an outside issuer's); `routes`: more routes, made on the gateway's loop (with what they opened
    closed on `stack` when it stops)."""
    ready = threading.Event()
    stop: asyncio.Event | None = None
    loop: asyncio.AbstractEventLoop | None = None
    made: list[IssuerGateway] = []
    config_settings = Settings.from_env({**(env or {}), "VSMESH_DATA_DIR": str(data_dir)})

    async def main() -> None:
        nonlocal stop, loop
        stop, loop = asyncio.Event(), asyncio.get_running_loop()
        sock = bind("127.0.0.1", 0)
        config = GatewayConfig.of(config_settings, url_of(sock))
        stack = contextlib.AsyncExitStack()
        verifier = make_verifier(config)
        more = await routes(config_settings, verifier, stack) if routes else []
        served = await serve(create_app(config, more, verifier=verifier), sock)
        try:
            made.append(IssuerGateway(url=served.url, data_dir=data_dir, config=config))
            ready.set()
            await stop.wait()
        finally:
            await served.stop()
            await stack.aclose()

    thread = threading.Thread(target=asyncio.run, args=(main(),), name="gateway", daemon=True)
    thread.start()
    assert ready.wait(30), "the gateway did not start"
    try:
        yield made[0]
    finally:
        loop.call_soon_threadsafe(stop.set)
        thread.join(30)
