"""The gateway's MCP server on real HTTP before the session's running mesh, authenticated as `vsmesh up` does:
the app with its local issuer (create_app), the JWT verifier finding the issuer's keys through discovery and
JWKS, and tokens the issuer signs — so every MCP test goes through the whole auth path. Everything is real:
nats-server, PostgreSQL, `vsmesh up`, uvicorn, the issuer, and the `mcp` SDK's own client.

Tokens are issued once per name per session (`RunningGateway.token`): the issuer's `mint`, which its token
endpoint answers with, for the tests' many fresh agents (a client-credentials request costs two scrypt
checks, ~0.3 s); the session's first agent gets its token from the token endpoint itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import shutil
import threading
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import httpx
import httpx2
import pytest
from click.testing import Result
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from playwright.sync_api import Browser, Page, sync_playwright
from typer.testing import CliRunner

from tests.conftest import server_dir
from tests.gateway.issuer_gateway import IssuerGateway, start_gateway
from tests.probes.conftest import ca, ca_file, http_port, https_expiring, probes_service  # noqa: F401 - for pages
from vsmesh.bus.connection import connect
from vsmesh.bus.publisher import Publisher
from vsmesh.gateway.app import GatewayConfig, create_app, make_verifier
from vsmesh.gateway.clients import Clients
from vsmesh.gateway.issuer import Issuer
from vsmesh.gateway.mcp_server import MCP_PATH, Gateway, mcp_app
from vsmesh.gateway.server import bind, serve, url_of
from vsmesh.gateway.verify import authenticate
from vsmesh.runtime.mesh_state import load_state


@dataclass
class RunningGateway:
    url: str  # the MCP endpoint
    base: str  # the gateway (and its issuer)
    gateway: Gateway
    issuer: Issuer
    loop: asyncio.AbstractEventLoop
    _tokens: dict[tuple[str, str], tuple[str, float]] = field(default_factory=dict)

    def run(self, coro: Any) -> Any:
        """Run `coro` on the gateway's own loop (its NATS client lives there)."""
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(30)

    def token(self, name: str, kind: str = "agent") -> str:
        """An access token of the gateway's issuer for `name` as `kind`, issued once per session (renewed
        only when half its lifetime is gone)."""
        held = self._tokens.get((name, kind))
        if held is None or time.monotonic() > held[1]:
            token = self.issuer.mint(subject=name, name=name, client_id=name, actor_kind=kind)
            held = self._tokens[(name, kind)] = (token, time.monotonic() + self.issuer.config.token_ttl_s / 2)
        return held[0]

    def client_credentials_token(self, name: str) -> str:
        """A token from the issuer's token endpoint for a client registered now, as an agent gets one."""
        secret = Clients(self.issuer.config.data_dir).add_client(name, "agent")
        answer = httpx.post(f"{self.base}/token", data={"grant_type": "client_credentials"}, auth=(name, secret))
        assert answer.status_code == 200, answer.text
        return answer.json()["access_token"]


@pytest.fixture(scope="session")
def gateway(settings, running_mesh) -> Iterator[RunningGateway]:
    data_dir = server_dir()  # the issuer's signing keys and clients
    ready = threading.Event()
    holder: dict[str, Any] = {}

    async def main() -> None:
        stop = asyncio.Event()
        nc = await connect(settings, name="vsmesh-gateway-test")
        sock = bind("127.0.0.1", 0)
        config = GatewayConfig.of(settings.model_copy(update={"data_dir": data_dir}), url_of(sock))
        verifier = make_verifier(config)
        routes, lifespan = mcp_app(settings, nc, authenticate(verifier))
        app = create_app(config, routes, lifespan=lifespan, verifier=verifier)
        served = await serve(app, sock)
        holder.update(
            stop=stop,
            loop=asyncio.get_running_loop(),
            gateway=lifespan.gateway,
            issuer=app.state.issuer,
            url=served.url,
        )
        ready.set()
        try:
            await stop.wait()
        finally:
            await served.stop()
            await nc.close()

    thread = threading.Thread(target=asyncio.run, args=(main(),), daemon=True)
    thread.start()
    assert ready.wait(60), "the gateway did not start"
    yield RunningGateway(
        f"{holder['url']}{MCP_PATH}", holder["url"], holder["gateway"], holder["issuer"], holder["loop"]
    )
    holder["loop"].call_soon_threadsafe(holder["stop"].set)
    thread.join(30)
    shutil.rmtree(data_dir, ignore_errors=True)


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


# --- the page tests' browser, against the session's `vsmesh up` (test_pages*.py)

CHROMIUM = shutil.which("chromium")


@pytest.fixture(scope="session")
def pages_url(running_mesh, session_dir) -> str:
    found = load_state(session_dir / "up").gateway_url
    assert found, "vsmesh up recorded no gateway URL in its mesh state"
    return found


@pytest.fixture(scope="session")
def chromium() -> Iterator[Browser]:
    """One browser for every page test of the session; each test gets a context of its own (`page`)."""
    # Never skipped: `make test` installs chromium (Makefile `browser`), and CI must run these.
    assert CHROMIUM, "chromium is not installed: `make browser` (as root) or `sudo apt-get install chromium`"
    with sync_playwright() as p:
        launched = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield launched
        launched.close()


@pytest.fixture
def page(chromium) -> Iterator[Page]:
    context = chromium.new_context(viewport={"width": 1280, "height": 900})
    yield context.new_page()
    context.close()


@pytest.fixture(scope="module")
def page_cli(mesh_env) -> Iterator[Callable[..., Result]]:
    """The CLI in-process, on a thread of its own: Playwright's sync API holds this thread's event loop. (A
    process per call, as before, took 1-4 s each on the loaded machine: most of the page tests' time.)"""
    from vsmesh.cli.app import app

    runner = CliRunner()
    with pytest.MonkeyPatch.context() as env, ThreadPoolExecutor(1, thread_name_prefix="page-cli") as thread:
        for key, value in mesh_env.items():
            env.setenv(key, value)

        def run(*args: str) -> Result:
            return thread.submit(runner.invoke, app, list(args), catch_exceptions=False).result(120)

        yield run


def publish(cli, event_type: str, hub: str, subject: str, data: dict, *more: str) -> dict:
    """`vsmesh publish … --json`: the stored event's id, stream and sequence."""
    done = cli("publish", event_type, "--hub", hub, "--subject", subject, "--data", json.dumps(data), "--json", *more)
    assert done.exit_code == 0, done.stderr
    return json.loads(done.stdout)


def health(cli, service: str, status: str) -> dict:
    return publish(cli, "ops-health-checked", "ops-hub", f"service/{service}", {"status": status, "observations": {}})


def cell(page: Page, service: str):
    return page.locator(f'[data-service="{service}"]')
