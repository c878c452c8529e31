"""An agent with canon's mandate silences notifications through the MCP gateway, as itself: `set_silence` is a
canon-hub contract operation, so it is a tool; the silence names the agent as its author."""

from __future__ import annotations

import datetime as dt

from tests.gateway.conftest import agent_name, front_door, mcp_client  # noqa: F401 - fixtures of the gateway's tests
from tests.gateway.front_door import once_allowed


async def test_an_agent_sets_a_silence_through_the_gateway(front_door, agent_name) -> None:  # noqa: F811
    await front_door.grant(agent_name, "canon-hub:set_silence, canon-hub:get_silences")
    until = (dt.datetime.now(dt.UTC) + dt.timedelta(hours=1)).isoformat()
    async with mcp_client(front_door.url, await front_door.agent_token(agent_name)) as client:
        request = {"matchers": {"hub": "dev-hub"}, "until": until, "reason": "release freeze"}
        wrote = await once_allowed(client, "canon-hub__set_silence", request)
        assert not wrote.is_error, wrote.content
        ids = wrote.structured_content
        wait = {"wait_for_seq": {ids["stream"]: ids["seq"]}}
        listed = await client.call_tool("canon-hub__get_silences", wait)
        [mine] = [s for s in listed.structured_content["silences"] if s["silence_id"] == ids["id"]]
        assert (mine["author"], mine["author_kind"], mine["reason"]) == (agent_name, "agent", "release freeze")
        # A matcher on a field that does not exist is refused, naming the fields there are.
        bad = await client.call_tool("canon-hub__set_silence", {**request, "matchers": {"colour": "red"}})
        assert bad.is_error and "no field 'colour'" in bad.content[0].text
