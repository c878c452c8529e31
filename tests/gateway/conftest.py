"""The gateway's MCP server on real HTTP (uvicorn on a free port) before the session's running mesh.

Until the identity branch lands, requests are authenticated by `bearer_authenticate` below: a stand-in
verifier defined in the tests only, mapping fixed-form bearer strings to principals and refusing any other
(the lead swaps it for the real JWT verifier, gateway/identity, at merge). Everything else is real:
nats-server, PostgreSQL, `vsmesh up`, uvicorn, and the `mcp` SDK's own client.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import socket
import threading
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any

import httpx2
import pytest
import uvicorn
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from starlette.applications import Starlette
from starlette.requests import Request

from tests.conftest import server_dir
from tests.gateway.issuer_gateway import IssuerGateway, start_gateway
from vsmesh.bus.connection import connect
from vsmesh.bus.publisher import Publisher
from vsmesh.errors import Unauthorized
from vsmesh.gateway.clients import Clients
from vsmesh.gateway.mcp_server import MCP_PATH, Gateway, mcp_app
from vsmesh.gateway.principal import Principal

# Stand-in tokens (NOT JWTs): "agent:NAME" and "human:NAME" name who calls. The real verifier replaces this.
TOKEN_KINDS = ("agent", "human")


async def bearer_authenticate(request: Request) -> Principal:
    """Test-only `Authenticate`: the lead swaps it for the identity branch's JWT verifier at merge."""
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    kind, _, name = token.partition(":")
    if scheme.lower() != "bearer" or kind not in TOKEN_KINDS or not name:
        raise Unauthorized("a bearer token is required", challenge='Bearer error="invalid_token"')
    return Principal(subject=name, kind=kind, name=name, client_id=name)  # type: ignore[arg-type]


@dataclass
class RunningGateway:
    url: str
    gateway: Gateway
    loop: asyncio.AbstractEventLoop

    def run(self, coro: Any) -> Any:
        """Run `coro` on the gateway's own loop (its NATS client lives there)."""
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(30)


@pytest.fixture(scope="session")
def gateway(settings, running_mesh) -> Iterator[RunningGateway]:
    # A socket bound here on port 0: the OS chooses, and nothing can take the port before uvicorn serves on it.
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    ready = threading.Event()
    holder: dict[str, Any] = {}

    async def serve() -> None:
        nc = await connect(settings, name="vsmesh-gateway-test")
        routes, lifespan = mcp_app(settings, nc, bearer_authenticate)
        app = Starlette(routes=routes, lifespan=lifespan)
        server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on"))
        holder.update(server=server, gateway=lifespan.gateway, loop=asyncio.get_running_loop())
        task = asyncio.create_task(server.serve(sockets=[sock]))
        while not server.started:  # noqa: ASYNC110 - uvicorn offers no event to wait on
            await asyncio.sleep(0.02)
        ready.set()
        await task
        await nc.close()

    thread = threading.Thread(target=asyncio.run, args=(serve(),), daemon=True)
    thread.start()
    assert ready.wait(60), "the gateway did not start"
    yield RunningGateway(f"http://127.0.0.1:{port}{MCP_PATH}", holder["gateway"], holder["loop"])
    holder["server"].should_exit = True
    thread.join(30)


@contextlib.asynccontextmanager
async def mcp_client(url: str, token: str | None) -> AsyncIterator[Client]:
    """The SDK's own client over streamable HTTP, presenting `token` as a bearer token."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with httpx2.AsyncClient(headers=headers, timeout=30) as http:
        async with Client(streamable_http_client(url, http_client=http), cache=None) as client:
            yield client


@pytest.fixture
def agent_name() -> str:
    """An agent no other test has granted anything (the session's mesh is shared)."""
    return f"agent-{uuid.uuid4().hex[:8]}"


class Canon:
    """Grants and revokes mandates as the admin, and waits until the gateway has applied them."""

    def __init__(self, nc, settings, gateway: RunningGateway) -> None:
        self.publisher = Publisher(nc.jetstream(), settings)
        self.gateway = gateway

    async def _applied(self, seq: int) -> None:
        reached = asyncio.wrap_future(
            asyncio.run_coroutine_threadsafe(self.gateway.gateway.mandates.wait_for(seq), self.gateway.loop)
        )
        assert await reached, f"the gateway did not apply CONSTITUTIONAL seq {seq}"

    async def publish(self, event_type: str, data: dict[str, Any], subject: str) -> tuple[str, int]:
        event = self.publisher.build(event_type, hub="canon-hub", subject=subject, data=data)
        stored = await self.publisher.publish(event)
        return stored.event_id, stored.sequence

    async def grant(self, holder: str, scope: str, *, wait: bool = True, **more: Any) -> str:
        data = {"role": "Test Operator", "holder": holder, "scope": scope, **more}
        mandate_id, seq = await self.publish("canon-mandate-granted", data, f"mandate/{holder}")
        if wait:
            await self._applied(seq)
        return mandate_id

    async def revoke(self, mandate_id: str, holder: str) -> int:
        _, seq = await self.publish("canon-mandate-revoked", {"mandate_id": mandate_id}, f"mandate/{holder}")
        return seq


@pytest.fixture
async def nc(settings):
    client = await connect(settings)
    yield client
    await client.close()


@pytest.fixture
def canon(nc, settings, gateway) -> Canon:
    return Canon(nc, settings, gateway)


# --- the identity tests' gateway: the app with its local issuer, no mesh behind it


@pytest.fixture(scope="session")
def issuer_gateway() -> Iterator[IssuerGateway]:
    path = server_dir()
    yield from start_gateway(path)
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="session")
def agent(issuer_gateway: IssuerGateway) -> tuple[str, str]:
    """A registered agent client of the issuer gateway: (client id, secret)."""
    return "release-bot", Clients(issuer_gateway.data_dir).add_client("release-bot", "agent")
