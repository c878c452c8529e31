"""`vsmesh up` serves the gateway; agents are registered, get tokens and are removed with the CLI."""

from __future__ import annotations

import asyncio
import os
import stat
from pathlib import Path

import httpx
import msgspec
import pytest

from tests.gateway.conftest import mcp_client
from vsmesh.runtime.mesh_state import load_state


@pytest.fixture
def vsmesh(cli_in, tmp_path: Path):
    """The CLI in-process with only the given `VSMESH_*` variables, as a user's shell has them."""
    return lambda env, *args, input=None: cli_in(env, tmp_path, *args, input=input)


def test_up_serves_the_gateway_and_names_it(running_mesh, mesh_env, session_dir, vsmesh):
    data_dir = session_dir / "up"
    url = load_state(data_dir).gateway_url
    assert url and url.startswith("http://127.0.0.1:")
    assert httpx.get(f"{url}/healthz").status_code == 200
    metadata = httpx.get(f"{url}/.well-known/oauth-protected-resource").json()
    assert metadata["authorization_servers"] == [url] and metadata["resource"] == url
    assert httpx.get(f"{url}/.well-known/openid-configuration").json()["issuer"] == url
    exported = vsmesh({**mesh_env, "VSMESH_DATA_DIR": str(data_dir)}, "env")
    assert exported.exit_code == 0, exported.output
    assert f"export VSMESH_GATEWAY_URL='{url}'" in exported.stdout.splitlines()


def test_an_agent_is_registered_gets_a_token_and_is_removed(running_mesh, mesh_env, session_dir, vsmesh):
    data_dir = session_dir / "up"
    env = {**mesh_env, "VSMESH_DATA_DIR": str(data_dir)}
    url = load_state(data_dir).gateway_url

    # Registering writes a private credentials file and says where, never the secret itself
    added = vsmesh(env, "agent", "add", "ci-bot")
    assert added.exit_code == 0, added.output
    path = data_dir / "agents" / "ci-bot.json"
    assert str(path) in added.stdout
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    creds = msgspec.json.decode(path.read_bytes())
    assert creds["client_id"] == "ci-bot" and creds["token_url"] == f"{url}/token"
    secret = creds["client_secret"]
    assert secret not in added.stdout + added.stderr
    assert stat.S_IMODE(os.stat(data_dir / "gateway" / "clients.json").st_mode) == 0o600
    assert secret not in (data_dir / "gateway" / "clients.json").read_text()  # only its scrypt hash

    # The list shows it, as a table and as JSON, without the secret
    listed = vsmesh(env, "agent", "list")
    assert listed.exit_code == 0 and "ci-bot" in listed.stdout and secret not in listed.stdout
    as_json = msgspec.json.decode(vsmesh(env, "agent", "list", "--json").stdout)
    assert {"name": "ci-bot", "kind": "agent"}.items() <= next(a for a in as_json if a["name"] == "ci-bot").items()

    # A token for scripts, which the gateway takes for the agent
    token = vsmesh(env, "gateway", "token", "ci-bot")
    assert token.exit_code == 0, token.output
    access = token.stdout.strip()
    me = httpx.get(f"{url}/whoami", headers={"Authorization": f"Bearer {access}"}).json()
    assert (me["subject"], me["kind"]) == ("ci-bot", "agent")

    # The MCP endpoint `vsmesh up` serves takes the same token: an agent connects with the SDK's own client
    assert asyncio.run(mcp_tools(f"{url}/mcp", access)) >= {"registry__list_hubs", "ops-hub__get_domain_summary"}
    bare = httpx.post(f"{url}/mcp", json={})
    assert bare.status_code == 401
    assert bare.headers["www-authenticate"] == f'Bearer resource_metadata="{url}/.well-known/oauth-protected-resource"'

    # Removed: no new token
    removed = vsmesh(env, "agent", "remove", "ci-bot")
    assert removed.exit_code == 0, removed.output
    refused = httpx.post(f"{url}/token", data={"grant_type": "client_credentials"}, auth=("ci-bot", secret))
    assert refused.status_code == 401 and refused.json()["error"] == "invalid_client"
    gone = vsmesh(env, "gateway", "token", "ci-bot")
    assert gone.exit_code == 1 and "agent add ci-bot" in gone.stderr

    # Nothing the mesh logged holds the secret or the token
    logged = (session_dir / "up.log").read_text(errors="replace")
    assert "token issued" in logged or "ci-bot" in logged  # the log did see the requests
    assert secret not in logged and access not in logged


async def mcp_tools(url: str, token: str) -> set[str]:
    async with mcp_client(url, token) as client:
        return {t.name for t in (await client.list_tools()).tools}


def test_a_person_is_added_with_a_hashed_password(running_mesh, mesh_env, session_dir, vsmesh):
    data_dir = session_dir / "up"
    env = {**mesh_env, "VSMESH_DATA_DIR": str(data_dir)}
    added = vsmesh(env, "user", "add", "grace", input="s3cret-enough\ns3cret-enough\n")
    assert added.exit_code == 0, added.output
    assert "s3cret-enough" not in (data_dir / "gateway" / "clients.json").read_text()
    short = vsmesh(env, "user", "add", "linus", input="short\nshort\n")
    assert short.exit_code == 1 and "at least 8 characters" in short.stderr
