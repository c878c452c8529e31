"""sec-hub and legal-hub through the MCP gateway: their operations are tools, an agent's writes land as its
own, and an agent acting without an AI-register entry is a gap in the GDPR report until it is registered."""

from __future__ import annotations

import asyncio
import datetime as dt

from tests.gateway.conftest import mcp_client
from tests.gateway.front_door import once_allowed
from vsmesh.bus.contract_client import ask


async def test_an_agent_on_sec_is_a_legal_gap_until_registered(front_door, nc, agent_name):
    await front_door.grant(agent_name, "sec-hub, legal-hub:read")
    async with mcp_client(front_door.url, await front_door.agent_token(agent_name)) as client:
        tools = {t.name: t for t in (await client.list_tools()).tools}
        # check_expiries publishes, so it is a write (an agent needs a write mandate for it).
        assert tools["sec-hub__check_expiries"].annotations.read_only_hint is False
        assert tools["legal-hub__get_gdpr_report"].annotations.read_only_hint is True
        assert "agent" in tools["legal-hub__agent_seen"].input_schema["properties"]

        # The agent accepts a finding on sec-hub, as itself.
        expires = (dt.datetime.now(dt.UTC).date() + dt.timedelta(days=30)).isoformat()
        granted = await once_allowed(
            client,
            "sec-hub__grant_exception",
            {"exception_id": f"{agent_name}-x", "owner": "ops", "reason": "test", "expires_on": expires,
             "rule": "CVE-0000-0002"},
        )  # fmt: skip
        assert not granted.is_error, granted.content
        for _ in range(200):
            found = [
                e
                for e in (await ask(nc, "sec-hub", "get_exceptions", {}))["exceptions"]
                if e["exception_id"] == f"{agent_name}-x"
            ]
            if found:
                break
            await asyncio.sleep(0.1)
        assert found[0]["granted_by"] == agent_name

        # legal sees an agent acting without an AI-register entry: a gap, read through MCP too.
        about = f"ai-system/{agent_name}"
        for _ in range(200):
            report = (await client.call_tool("legal-hub__get_gdpr_report", {})).structured_content
            if any(g["about"] == about for g in report["gaps"]):
                break
            await asyncio.sleep(0.1)
        assert [g["kind"] for g in report["gaps"] if g["about"] == about] == ["agent-not-registered"]
        # legal-hub:read does not cover registering oneself.
        refused = await client.call_tool(
            "legal-hub__register_ai_system", {"ai_actor": agent_name, "owner": "x", "purpose": "y"}
        )
        assert refused.is_error

    # A person registers it; the gap is gone.
    await ask(nc, "legal-hub", "register_ai_system", {"ai_actor": agent_name, "owner": "founder", "purpose": "ops"})
    for _ in range(200):
        report = await ask(nc, "legal-hub", "get_gdpr_report", {})
        if not any(g["about"] == about for g in report["gaps"]):
            break
        await asyncio.sleep(0.1)
    assert not any(g["about"] == about for g in report["gaps"])
