"""Fixtures of the gateway's tests. MCP, mandates and identity go through the front door: the gateway the
session's `vsmesh up` serves, with tokens from its own token endpoint and login form (`front_door`,
front_door.py); the identity tests' issuer-only gateway (issuer_gateway.py); the page tests' browser. Everything
is real: nats-server, PostgreSQL, `vsmesh up`, uvicorn, the issuer, chromium, and the `mcp` SDK's own client.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx2
import pytest
from click.testing import Result
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from playwright.sync_api import Browser, Page, sync_playwright
from typer.testing import CliRunner

from tests.conftest import server_dir
from tests.gateway.front_door import FrontDoor
from tests.gateway.issuer_gateway import IssuerGateway, start_gateway
from tests.probes.conftest import ca, ca_file, http_port, https_expiring, probes_service  # noqa: F401 - for pages
from vsmesh.gateway.identity.clients import Clients
from vsmesh.runtime.mesh_state import load_state


@contextlib.asynccontextmanager
async def mcp_client(
    url: str, token: str | None, *, mode: str = "auto", on_response: Callable[[Any], Awaitable[None]] | None = None
) -> AsyncIterator[Client]:
    """The SDK's own client over streamable HTTP, presenting `token` as a bearer token. `mode="legacy"`: the
    2025 wire (initialize handshake, `Mcp-Session-Id`); "auto" adopts the stateless 2026-07-28 wire the gateway
    offers. `on_response` sees every HTTP answer (its headers)."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    hooks = {"response": [on_response]} if on_response else {}
    async with httpx2.AsyncClient(headers=headers, timeout=30, event_hooks=hooks) as http:
        async with Client(streamable_http_client(url, http_client=http), cache=None, mode=mode) as client:
            yield client


@pytest.fixture
def front_door(cli, running_mesh, session_dir) -> FrontDoor:
    """The gateway the session's `vsmesh up` serves, reached as agents and people reach it (front_door.py)."""
    data_dir = session_dir / "up"
    base = load_state(data_dir).gateway_url
    assert base, "vsmesh up recorded no gateway URL in its mesh state"
    return FrontDoor(base, data_dir, cli)


@pytest.fixture
def shell(running_mesh, session_dir: Path, tmp_path: Path) -> dict[str, str]:
    """A person's shell beside the running mesh: its gateway's URL and a config dir of its own, no NATS user."""
    return {
        "VSMESH_GATEWAY_URL": load_state(session_dir / "up").gateway_url or "",
        "VSMESH_CONFIG_DIR": str(tmp_path / "config"),
        "VSMESH_DATA_DIR": str(tmp_path / "no-mesh-here"),
        "VSMESH_LOG_FORMAT": "json",
    }


@pytest.fixture
def agent_name() -> str:
    """An agent no other test has granted anything (the session's mesh is shared)."""
    return f"agent-{uuid.uuid4().hex[:8]}"


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


@pytest.fixture(scope="module")
def chromium() -> Iterator[Browser]:
    """One browser for a file's page tests; each test gets a context of its own (`page`). Not one per session:
    Playwright's sync API keeps an event loop running on this thread while it lives, and every later test of
    the worker that calls asyncio.run would fail."""
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
def page_cli(mesh_env, person) -> Iterator[Callable[..., Result]]:
    """The CLI in-process, on a thread of its own: Playwright's sync API holds this thread's event loop. (A
    process per call, as before, took 1-4 s each on the loaded machine: most of the page tests' time.) Signed in
    as the session's person, as `cli` is beside the running mesh."""
    from vsmesh.cli.app import app

    runner = CliRunner()
    with pytest.MonkeyPatch.context() as env, ThreadPoolExecutor(1, thread_name_prefix="page-cli") as thread:
        for key, value in mesh_env.items():
            env.setenv(key, value)

        def run(*args: str) -> Result:
            env.setenv("VSMESH_CONFIG_DIR", str(thread.submit(person.fresh).result(120)))
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
