"""An agent on `vsmesh mcp --stdio`: the SDK's stdio client, through the bridge, to the gateway over HTTP."""

from __future__ import annotations

import json
import os
import sys
import time
import uuid

import httpx2
import pytest
from mcp import Client, StdioServerParameters
from mcp.client.stdio import stdio_client
from mcp.client.streamable_http import streamable_http_client

from tests.conftest import exported
from tests.gateway.front_door import once_allowed
from vsmesh.events import decode_event
from vsmesh.gateway.identity.agent_token import AccessToken, RenewingBearer, TokenEndpoint
from vsmesh.gateway.identity.clients import AgentCredentials, Clients
from vsmesh.runtime.mesh_state import load_state


def bridge(url: str, token: str) -> StdioServerParameters:
    env = {**os.environ, "VSMESH_GATEWAY_TOKEN": token}
    return StdioServerParameters(
        command=sys.executable, args=["-m", "vsmesh.cli.app", "mcp", "--stdio", "--url", url], env=env
    )


async def test_the_stdio_bridge_is_governed_like_http(front_door, nc, agent_name):
    async with Client(bridge(front_door.url, await front_door.agent_token(agent_name)), cache=None) as client:
        names = {t.name for t in (await client.list_tools()).tools}
        assert {"ops-hub__get_incidents", "ops-hub__record_runbook_step"} <= names
        # No mandate yet: refused by the gateway behind the bridge.
        refused = await client.call_tool(
            "ops-hub__record_runbook_step", {"runbook": "gitea-restore", "outcome": "succeeded"}
        )
        assert refused.is_error and "missing mandate ops-hub:record_runbook_step" in refused.content[0].text

        await front_door.grant(agent_name, "ops-hub:read ops-hub:record_runbook_step")
        read = await once_allowed(client, "ops-hub__get_incidents", {})
        wrote = await client.call_tool(
            "ops-hub__record_runbook_step",
            {"runbook": "gitea-restore", "outcome": "succeeded", "steps": ["stop gitea", "restore dump"]},
        )
    assert not read.is_error and not wrote.is_error, wrote.content
    msg = await nc.jetstream().get_msg(wrote.structured_content["stream"], wrote.structured_content["seq"])
    event = decode_event(msg.data)
    assert (event.actor, event.actorkind, event.data.metadata["via"]) == (agent_name, "agent", "mcp")


async def test_the_bridge_with_a_refused_token_says_so(front_door, tmp_path):
    errors = tmp_path / "bridge.err"
    with errors.open("w") as errlog, pytest.raises(Exception):  # noqa: B017 - whatever the SDK makes of an EOF
        # Given the gateway's root, not its /mcp endpoint: the bridge takes either.
        async with Client(stdio_client(bridge(front_door.base, "not-a-token"), errlog=errlog), cache=None):
            pass
    assert "refused the token (401)" in errors.read_text()


async def test_the_printed_client_config_works_as_printed(cli, cli_in, running_mesh, session_dir, tmp_path):
    # With the environment `vsmesh env` printed for the session's mesh (its gateway's root URL), elsewhere
    printed = exported(cli("env", "--data-dir", str(session_dir / "up")).stdout)
    agent = f"config-bot-{uuid.uuid4().hex[:6]}"
    assert cli_in(printed, tmp_path, "agent", "add", agent).exit_code == 0
    done = cli_in(printed, tmp_path, "mcp", "--print-config", agent)
    assert done.exit_code == 0, done.output
    config = json.loads(done.stdout)["mcpServers"]
    assert "lives" in done.stderr  # how long the HTTP entry's token holds, beside (never inside) the JSON

    # The HTTP entry, its URL and headers as printed, to the SDK's own client
    http = config[f"vsmesh-{agent}-http"]
    assert http["type"] == "http"
    async with httpx2.AsyncClient(headers=http["headers"], timeout=30) as h:
        async with Client(streamable_http_client(http["url"], http_client=h), cache=None) as client:
            assert "ops-hub__get_incidents" in {t.name for t in (await client.list_tools()).tools}

    # The stdio entry, its command, args and env as printed (no more of ours: only what the SDK passes on)
    stdio = config[f"vsmesh-{agent}"]
    entry = StdioServerParameters(command=stdio["command"], args=stdio["args"], env=stdio.get("env"))
    async with Client(stdio_client(entry), cache=None) as client:
        assert "ops-hub__get_incidents" in {t.name for t in (await client.list_tools()).tools}


def test_print_config_takes_the_gateways_root_or_its_mcp_endpoint_alike(
    cli, cli_in, running_mesh, session_dir, tmp_path
):
    printed = exported(cli("env", "--data-dir", str(session_dir / "up")).stdout)
    agent = f"url-bot-{uuid.uuid4().hex[:6]}"
    assert cli_in(printed, tmp_path, "agent", "add", agent).exit_code == 0
    root = printed["VSMESH_GATEWAY_URL"]  # the printed config test gives this one, from the environment
    urls = set()
    for given in (f"{root}/", f"{root}/mcp"):
        shown = cli_in(printed, tmp_path, "mcp", "--print-config", agent, "--url", given)
        config = json.loads(shown.stdout)["mcpServers"]
        urls |= {config[f"vsmesh-{agent}-http"]["url"], config[f"vsmesh-{agent}"]["args"][-3]}
    assert urls == {f"{root}/mcp"}


async def test_the_bridges_token_is_renewed_before_its_end_and_when_refused(running_mesh, session_dir):
    up = session_dir / "up"
    url = load_state(up).gateway_url
    name = f"renew-bot-{uuid.uuid4().hex[:6]}"
    secret = Clients(up).add_client(name, "agent")
    stored = AgentCredentials(client_id=name, client_secret=secret, token_url=f"{url}/token", issuer=url, kind="agent")

    async def whoami(first: AccessToken) -> tuple[str, list[tuple[str, int]]]:
        sent: list[tuple[str, int]] = []  # each attempt's bearer and the gateway's answer

        async def seen(response: httpx2.Response) -> None:
            sent.append((response.request.headers["Authorization"].removeprefix("Bearer "), response.status_code))

        auth = RenewingBearer(stored, TokenEndpoint(stored.token_url), first=first)
        async with httpx2.AsyncClient(auth=auth, event_hooks={"response": [seen]}, timeout=30) as http:
            return (await http.get(f"{url}/whoami")).json()["subject"], sent

    # A token about to end is replaced before it is ever sent
    subject, sent = await whoami(AccessToken("about-to-end", time.monotonic() + 1))
    assert subject == name and [code for _, code in sent] == [200] and sent[0][0] != "about-to-end"

    # One the gateway refuses (a rotated key, say) is replaced once and the request sent again
    subject, sent = await whoami(AccessToken("refused", time.monotonic() + 600))
    assert subject == name and [code for _, code in sent] == [401, 200] and sent[0][0] == "refused"
