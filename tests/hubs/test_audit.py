"""`vsmesh audit` on the session's real servers: agent actions listed with their revert state."""

from __future__ import annotations

import asyncio
import json
import uuid

import pytest

from tests.conftest import PERSON, publish_as
from vsmesh.errors import ContractError

pytestmark = pytest.mark.usefixtures("running_mesh")


def test_audit_lists_an_agents_actions_with_their_revert_state(cli, settings):
    agent = f"bot-{uuid.uuid4().hex[:6]}"
    checked = [{"status": "green"}, {"status": "red"}]
    ids = [
        publish_as(settings, agent, "agent", "ops-health-checked", "ops-hub", f"service/{agent}", d)["id"]
        for d in checked
    ]
    # The signed-in person reverts (the session's `person`).
    reverted = cli("revert", ids[1], "--reason", "agent misread the probe", "--json")
    assert reverted.exit_code == 0, reverted.output

    result = cli("audit", "--actor", agent, "--actor-kind", "agent", "--since", "10m", "--json")
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)
    assert [r["id"] for r in rows] == ids
    assert all((r["actor"], r["actor_kind"], r["hub"], r["type"]) == (agent, "agent", "ops-hub", "ops-health-checked")
               for r in rows)  # fmt: skip
    assert rows[0]["reverted"] is False and rows[0]["reverted_by"] is None
    assert rows[1]["reverted"] is True
    assert (rows[1]["reverted_by"], rows[1]["revert_reason"]) == (PERSON, "agent misread the probe")

    # The revert itself is an action of a person, listed under her name.
    mine = json.loads(cli("audit", "--actor", PERSON, "--hub", "ops-hub", "--json").stdout)
    assert any(r["type"] == "event-reverted" and r["actor_kind"] == "human" for r in mine)
    # Humans' actions are not agents'.
    assert not json.loads(cli("audit", "--actor", PERSON, "--actor-kind", "agent", "--json").stdout)

    shown = cli("audit", "--actor", agent)
    assert shown.exit_code == 0 and "reverted" in shown.stdout and PERSON in shown.stdout
    print(shown.stdout)


def agent_actions(settings, **request) -> dict:
    """canon-hub's answer to get_agent_actions, asked as a page or an agent would (the contract over NATS)."""
    from vsmesh.bus.connection import connect
    from vsmesh.bus.contract_client import ask

    async def asking() -> dict:
        nc = await connect(settings)
        try:
            return await ask(nc, "canon-hub", "get_agent_actions", request)
        finally:
            await nc.close()

    return asyncio.run(asking())


def test_canon_pages_agents_actions_newest_first_with_their_revert_state(cli, settings):
    agent = f"bot-{uuid.uuid4().hex[:6]}"
    ids = []
    for hub, event_type, data in (
        ("ops-hub", "ops-health-checked", {"status": "amber"}),
        ("dev-hub", "dev-decision-recorded", {"title": "pin the base image", "decision": "pin it"}),
        ("fin-hub", "fin-cost-recorded", {"amount": {"amount": "12.00", "currency": "EUR"}, "category": "ci"}),
    ):
        ids.append(publish_as(settings, agent, "agent", event_type, hub, f"thing/{agent}", data)["id"])
    assert cli("revert", ids[1], "--reason", "not the agent's call").exit_code == 0

    # Newest first across the horizons' streams, two at a time; the page says where the next one starts.
    first = agent_actions(settings, agent=agent, limit=2)
    assert [(a["id"], a["hub"]) for a in first["actions"]] == [(ids[2], "fin-hub"), (ids[1], "dev-hub")]
    assert first["actions"][1]["reverted"] and first["actions"][1]["reverted_by"] == PERSON
    assert not first["actions"][0]["reverted"] and first["next_before"]
    older = agent_actions(settings, agent=agent, before=first["next_before"])
    assert [(a["id"], a["type"], a["reverted"]) for a in older["actions"]] == [(ids[0], "ops-health-checked", False)]
    # Bounded: at most the latest `scan` events of each stream are read, and the answer says which.
    bounded = agent_actions(settings, scan=100)
    assert bounded["scanned"] and all(w["to_seq"] - w["from_seq"] < 100 for w in bounded["scanned"].values())
    with pytest.raises(ContractError, match="scan"):
        agent_actions(settings, scan=10**9)
