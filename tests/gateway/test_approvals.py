"""Approvals, caps and delegation through the front door: the session's `vsmesh up` gateway, agents with tokens
from its token endpoint, people signed in at its login form or at the terminal (`vsmesh approve`), the
`mcp` SDK's own client (front_door.py). The session's mesh holds calls for `VSMESH_APPROVAL_TTL_S` = 15 s."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from decimal import Decimal
from typing import Any

import pytest

from tests.gateway.conftest import mcp_client
from tests.gateway.front_door import FrontDoor, once_allowed, refusal
from tests.gateway.test_mcp_http import refusal_subject, stored
from vsmesh.bus.contract_client import ask
from vsmesh.errors import ContractError
from vsmesh.events import decode_event

SPEND = "fin-hub:record_cost amount > 500 EUR"


def held(answer) -> dict[str, Any]:
    """The approval a held call's answer names (a result, not an error: nothing went wrong, nothing ran)."""
    assert not answer.is_error, answer.content[0].text
    assert "has NOT run" in answer.content[0].text, answer.content[0].text
    return answer.structured_content["approval"]


async def approval_when(nc, approval_id: str, *statuses: str, timeout: float = 20.0) -> dict[str, Any]:
    """canon-hub's view of an approval once it reads as one of `statuses`."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            found = (await ask(nc, "canon-hub", "get_approval", {"approval_id": approval_id}))["approval"]
        except ContractError as e:  # not applied yet: canon-hub's projector follows the log
            assert e.code == "not_found", e
            found = {"status": None}
        if found["status"] in statuses:
            return found
        assert time.monotonic() < deadline, f"approval {approval_id} is {found['status']}, not {statuses}"
        await asyncio.sleep(0.1)


async def spender(front_door: FrontDoor, agent: str, **more: Any) -> dict[str, Any]:
    return await front_door.grant(agent, "fin-hub:record_cost", approve=[SPEND], **more)


async def test_an_approved_call_runs_exactly_its_arguments_once_as_the_agent(front_door, nc, agent_name, person):
    await spender(front_door, agent_name)
    vendor = f"vendor-{agent_name}"
    big = {"amount": "600.00", "currency": "EUR", "vendor": vendor}
    async with mcp_client(front_door.url, await front_door.agent_token(agent_name)) as client:
        # Above the condition: held, not run; asking again with the same arguments is the same approval.
        approval = held(await once_allowed(client, "fin-hub__record_cost", big))
        assert held(await client.call_tool("fin-hub__record_cost", big))["approval_id"] == approval["approval_id"]
        # Below it: runs at once.
        small = await client.call_tool("fin-hub__record_cost", {**big, "amount": "20.00"})
        assert not small.is_error and small.structured_content["id"]
        waiting = await approval_when(nc, approval["approval_id"], "pending")
        assert waiting["arguments"] == big and waiting["holder"] == agent_name

        # A person signed in at the terminal (the session's `cli` is) approves what they were shown; the gateway
        # runs it, once.
        done = await front_door.run("approve", approval["approval_id"], "--json")
        decided = json.loads(done.stdout)
        ran = await approval_when(nc, approval["approval_id"], "executed")
        polled = await client.call_tool("canon-hub__get_approval", {"approval_id": approval["approval_id"]})
    assert polled.structured_content["approval"]["result_event_id"] == ran["result_event_id"]
    event = await stored(nc, ran["result_stream"], ran["result_seq"])
    assert (event.type, event.actor, event.actorkind) == ("fin-cost-recorded", agent_name, "agent")
    assert event.causationid == approval["approval_id"] and event.data.amount.amount == Decimal("600.00")
    assert event.data.metadata["approval_id"] == approval["approval_id"]
    decision = await stored(nc, decided["stream"], decided["seq"])
    assert (decision.type, decision.actor, decision.actorkind, decision.data.decision) == (
        "canon-approval-decided",
        person.name,
        "human",
        "approved",
    )
    # Approving again changes nothing: the approval is spent.
    again = await asyncio.to_thread(front_door.cli, "approve", approval["approval_id"])
    assert again.exit_code == 1 and "is executed, no longer decidable" in again.output
    executed = await approval_when(nc, approval["approval_id"], "executed")
    assert executed["result_event_id"] == ran["result_event_id"]


async def test_an_approval_binds_the_arguments_a_person_saw(front_door, nc, agent_name):
    person, password = f"ada-{agent_name}", "correct horse battery"
    await front_door.add_person(person, password)
    await spender(front_door, agent_name)
    async with mcp_client(front_door.url, await front_door.agent_token(agent_name)) as client:
        approval = held(await once_allowed(client, "fin-hub__record_cost", {"amount": "900", "vendor": "a"}))
    await approval_when(nc, approval["approval_id"], "pending")
    other = "0" * 64  # the hash of arguments the person did not see
    async with mcp_client(front_door.url, await front_door.person_token(person, password)) as admin:
        refused = await admin.call_tool(
            "canon-hub__approve_call", {"approval_id": approval["approval_id"], "arguments_hash": other}
        )
    assert refused.is_error and "arguments_changed" in refusal(refused)
    # A decision on the log that names other arguments (here forged by the admin) never runs them.
    data = {"approval_id": approval["approval_id"], "decision": "approved", "arguments_hash": other}
    await front_door.publish("canon-approval-decided", "canon-hub", f"approval/{approval['approval_id']}", data)
    found = await approval_when(nc, approval["approval_id"], "refused")
    assert found["result_event_id"] is None and "changed arguments never run" in found["reason"]


async def test_no_agent_decides_an_approval_and_a_denied_call_never_runs(
    front_door, nc, agent_name, person, monkeypatch, tmp_path
):
    # The agent may do anything on canon-hub and fin-hub, yet cannot approve its own held call.
    await front_door.grant(agent_name, "fin-hub:record_cost, canon-hub", approve=[SPEND])
    async with mcp_client(front_door.url, await front_door.agent_token(agent_name)) as client:
        approval = held(await once_allowed(client, "fin-hub__record_cost", {"amount": "501"}))
        await approval_when(nc, approval["approval_id"], "pending")
        mine = {"approval_id": approval["approval_id"], "arguments_hash": approval["arguments_hash"]}
        refused = await client.call_tool("canon-hub__approve_call", mine)
    assert refusal(refused).startswith("refused: only a person may call canon-hub__approve_call")
    attempt = await nc.jetstream().get_last_msg("CONSTITUTIONAL", refusal_subject(agent_name))
    assert decode_event(attempt.data).data.operation == "approve_call"
    # Nor at a terminal nobody signed in to (a process sharing the operator's OS user): the admin decides nothing.
    monkeypatch.setenv("VSMESH_CONFIG_DIR", str(tmp_path / "nobody"))
    unsigned = await asyncio.to_thread(front_door.cli, "approve", approval["approval_id"])
    assert unsigned.exit_code == 1 and "deciding a held call needs a signed-in person" in unsigned.output
    monkeypatch.setenv("VSMESH_CONFIG_DIR", str(person.fresh()))
    await front_door.run("deny", approval["approval_id"], "--reason", "not this month")
    denied = await approval_when(nc, approval["approval_id"], "denied")
    assert (denied["reason"], denied["decided_by"], denied["result_event_id"]) == ("not this month", person.name, None)
    listed = await front_door.run("approvals", "--holder", agent_name, "--status", "denied", "--wide")
    assert approval["approval_id"] in listed.output and "fin-hub:record_cost" in listed.output


async def test_a_held_call_nobody_decides_expires(front_door, nc, agent_name):
    await spender(front_door, agent_name)
    async with mcp_client(front_door.url, await front_door.agent_token(agent_name)) as client:
        approval = held(await once_allowed(client, "fin-hub__record_cost", {"amount": "777"}))
    await approval_when(nc, approval["approval_id"], "expired", timeout=40)
    late = await asyncio.to_thread(front_door.cli, "approve", approval["approval_id"])
    assert late.exit_code == 1 and "is expired, no longer decidable" in late.output


async def test_a_cap_stops_the_61st_call_in_a_minute(front_door, nc, agent_name):
    await front_door.grant(agent_name, "ops-hub:get_incidents", caps={"calls_per_minute": 60})
    async with mcp_client(front_door.url, await front_door.agent_token(agent_name)) as client:
        started = time.monotonic()
        assert not (await once_allowed(client, "ops-hub__get_incidents", {})).is_error
        for _ in range(59):
            assert not (await client.call_tool("ops-hub__get_incidents", {})).is_error
        stopped = await client.call_tool("ops-hub__get_incidents", {})
    assert time.monotonic() - started < 60, "the machine was too slow to make 61 calls in a minute"
    assert refusal(stopped).startswith("refused: cap reached: mandate ") and "allows 60 calls per minute" in (
        refusal(stopped)
    )
    attempt = await nc.jetstream().get_last_msg("CONSTITUTIONAL", refusal_subject(agent_name))
    assert "allows 60 calls per minute" in decode_event(attempt.data).data.reason


async def test_a_spend_cap_stops_the_spend_that_would_pass_it(front_door, nc, agent_name):
    cap = {"spend": {"amount": "100", "currency": "EUR", "per": "month"}}
    await front_door.grant(agent_name, "fin-hub:record_cost", caps=cap)
    async with mcp_client(front_door.url, await front_door.agent_token(agent_name)) as client:
        assert not (await once_allowed(client, "fin-hub__record_cost", {"amount": "60", "vendor": "a"})).is_error
        over = await client.call_tool("fin-hub__record_cost", {"amount": "50", "vendor": "b"})
        dollars = await client.call_tool("fin-hub__record_cost", {"amount": "1", "currency": "USD", "vendor": "c"})
        within = await client.call_tool("fin-hub__record_cost", {"amount": "40", "vendor": "d"})
    assert "allows 100 EUR per month; 60 spent, 50 more would pass it" in refusal(over)
    assert "a spend in USD cannot be counted against it" in refusal(dollars)
    assert not within.is_error, within.content[0].text


async def test_delegation_is_narrowed_by_the_delegator_and_ends_with_it(front_door, nc, agent_name):
    root = await front_door.grant(f"lead-{agent_name}", "ops-hub:read")
    await front_door.grant(agent_name, "ops-hub", delegated_from=root["id"])
    async with mcp_client(front_door.url, await front_door.agent_token(agent_name)) as client:
        assert not (await once_allowed(client, "ops-hub__get_incidents", {})).is_error
        narrowed = await client.call_tool("ops-hub__open_incident", {"title": "not mine to open"})
        assert f"delegated from {root['id']}, which does not cover ops-hub:open_incident" in refusal(narrowed)
        # Revoking the delegator's mandate ends the delegated one.
        await front_door.publish("canon-mandate-revoked", "canon-hub", "mandate/lead", {"mandate_id": root["id"]})
        deadline = time.monotonic() + 15
        while not (answer := await client.call_tool("ops-hub__get_incidents", {})).is_error:
            assert time.monotonic() < deadline, "the delegated mandate outlived its delegator's"
            await asyncio.sleep(0.05)
    assert "holds no mandate in force" in refusal(answer)


async def test_a_delegated_mandate_grants_nothing_of_a_non_delegable_power(front_door, agent_name):
    power = "ops-hub:verify_access_path"  # no other test delegates it: canon's policies are the mesh's
    policy = {
        "policy": f"delegation-{agent_name}",
        "title": "Delegation",
        "metadata": {"values": {"non_delegable": [power]}},
    }
    await front_door.publish("canon-policy-declared", "canon-hub", f"policy/delegation-{agent_name}", policy)
    root = await front_door.grant(f"lead-{agent_name}", "*")
    await front_door.grant(agent_name, f"{power}, ops-hub:get_incidents", delegated_from=root["id"])
    async with mcp_client(front_door.url, await front_door.agent_token(agent_name)) as client:
        assert not (await once_allowed(client, "ops-hub__get_incidents", {})).is_error
        refused = await client.call_tool("ops-hub__verify_access_path", {"path": "ssh-coulombcore"})
    text = refusal(refused)
    assert f"{power} is non-delegable (canon policy delegation-{agent_name}: {power})" in text
    assert "it grants nothing of it" in text


@pytest.mark.parametrize(
    ("approve", "problem"),
    [
        ("fin-hub:record_cost amount >> 500", "is not `HUB:OPERATION [ARGUMENT OP VALUE [CURRENCY]]`"),
        ("fin-hub:record_cost vendor > hetzner", "compares numbers"),
    ],
)
async def test_a_mandate_nobody_can_enforce_is_refused_when_granted(front_door, approve, problem):
    data = {"role": "r", "holder": f"bot-{uuid.uuid4().hex[:6]}", "scope": "fin-hub", "approve": [approve]}
    done = await asyncio.to_thread(
        front_door.cli, "publish", "canon-mandate-granted", "--hub", "canon-hub", "--data", json.dumps(data)
    )
    assert done.exit_code == 1 and done.output.startswith("error: invalid canon-mandate-granted event: approve ")
    assert problem in done.output
