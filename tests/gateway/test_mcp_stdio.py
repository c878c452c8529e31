"""An agent on `vsmesh mcp --stdio`: the SDK's stdio client, through the bridge, to the gateway over HTTP."""

from __future__ import annotations

import json
import os
import sys

import pytest
from mcp import Client, StdioServerParameters
from mcp.client.stdio import stdio_client

from vsmesh.events import decode_event


def bridge(url: str, token: str) -> StdioServerParameters:
    env = {**os.environ, "VSMESH_GATEWAY_TOKEN": token}
    return StdioServerParameters(
        command=sys.executable, args=["-m", "vsmesh.cli.app", "mcp", "--stdio", "--url", url], env=env
    )


async def test_the_stdio_bridge_is_governed_like_http(gateway, canon, nc, agent_name):
    async with Client(bridge(gateway.url, gateway.token(agent_name)), cache=None) as client:
        names = {t.name for t in (await client.list_tools()).tools}
        assert {"ops-hub__get_incidents", "ops-hub__record_runbook_step"} <= names
        # No mandate yet: refused by the gateway behind the bridge.
        refused = await client.call_tool(
            "ops-hub__record_runbook_step", {"runbook": "gitea-restore", "outcome": "succeeded"}
        )
        assert refused.is_error and "missing mandate ops-hub:record_runbook_step" in refused.content[0].text

        await canon.grant(agent_name, "ops-hub:read ops-hub:record_runbook_step")
        read = await client.call_tool("ops-hub__get_incidents", {})
        wrote = await client.call_tool(
            "ops-hub__record_runbook_step",
            {"runbook": "gitea-restore", "outcome": "succeeded", "steps": ["stop gitea", "restore dump"]},
        )
    assert not read.is_error and not wrote.is_error, wrote.content
    msg = await nc.jetstream().get_msg(wrote.structured_content["stream"], wrote.structured_content["seq"])
    event = decode_event(msg.data)
    assert (event.actor, event.actorkind, event.data.metadata["via"]) == (agent_name, "agent", "mcp")


async def test_the_bridge_with_a_refused_token_says_so(gateway, tmp_path):
    errors = tmp_path / "bridge.err"
    with errors.open("w") as errlog, pytest.raises(Exception):  # noqa: B017 - whatever the SDK makes of an EOF
        async with Client(stdio_client(bridge(gateway.url, "not-a-token"), errlog=errlog), cache=None):
            pass
    assert "refused the token (401)" in errors.read_text()


def test_print_config_names_the_bridge_and_the_token(cli, gateway):
    done = cli("mcp", "--print-config", "deploy-bot", "--url", gateway.url)
    assert done.exit_code == 0, done.output
    config = json.loads(done.stdout)["mcpServers"]
    stdio = config["vsmesh-deploy-bot"]
    assert stdio["args"][-4:] == ["mcp", "--stdio", "--url", gateway.url]
    assert "VSMESH_GATEWAY_TOKEN" in stdio["env"] and config["vsmesh-deploy-bot-http"]["url"] == gateway.url
    assert "vsmesh gateway token deploy-bot" in stdio["env"]["VSMESH_GATEWAY_TOKEN"]  # how to get one
