"""canon-hub over NATS: policies (versioned, with machine-readable values), mandates, escalations."""

import uuid

import pytest

from vsmesh.bus.contract_client import ask
from vsmesh.bus.publisher import Publisher
from vsmesh.errors import ContractError

HUB = "canon-hub"


@pytest.fixture
def publisher(nc, settings):
    return Publisher(nc.jetstream(), settings)


async def publish(publisher, event_type: str, data: dict, subject: str | None = None):
    return await publisher.publish(publisher.build(event_type, hub=HUB, subject=subject, data=data))


async def test_the_latest_policy_version_is_in_force_and_history_keeps_all(nc, publisher, running_mesh):
    slug, scope = f"spending-{uuid.uuid4().hex[:6]}", f"fin-{uuid.uuid4().hex[:6]}"
    await publish(
        publisher,
        "canon-policy-declared",
        {
            "policy": slug,
            "title": "Spending",
            "scope": scope,
            "version": "1",
            "statement": "ask above 1000",
            "metadata": {"values": {"approval_above": "1000", "budget_alert_pct": 90}},
        },
    )
    last = await publish(
        publisher,
        "canon-policy-declared",
        {
            "policy": slug,
            "title": "Spending",
            "scope": scope,
            "version": "2",
            "supersedes": "1",
            "statement": "ask above 500",
            "metadata": {"values": {"approval_above": "500", "budget_alert_pct": 80}},
        },
    )

    wait = {"wait_for_seq": {last.stream: last.sequence}}
    [current] = (await ask(nc, HUB, "get_policies", {"scope": scope, **wait}))["policies"]
    assert (current["version"], current["values"]["approval_above"], current["supersedes"]) == ("2", "500", "1")
    history = (await ask(nc, HUB, "get_policies", {"policy": slug, "history": True}))["policies"]
    assert [p["version"] for p in history] == ["1", "2"]
    assert slug in [p["policy"] for p in (await ask(nc, HUB, "get_domain_summary", {}))["policies"]]


async def test_mandates_delegation_and_escalations(nc, publisher, running_mesh):
    tag = uuid.uuid4().hex[:6]
    resolved_before = (await ask(nc, HUB, "get_domain_summary", {}))["resolved_escalations"]
    root = await publish(
        publisher, "canon-mandate-granted", {"role": "Financial Allocator", "holder": f"ana-{tag}", "scope": "fin"}
    )
    await publish(
        publisher,
        "canon-mandate-granted",
        {
            "role": "Financial Allocator",
            "holder": f"bot-{tag}",
            "scope": "fin",
            "constraints": ["below 100 EUR"],
            "metadata": {"delegated_from": root.event_id},
        },
    )
    open_one = await publish(publisher, "canon-escalation-raised", {"title": f"runway {tag}", "from_hub": "fin-hub"})
    decided = await publish(publisher, "canon-escalation-raised", {"title": f"budget {tag}", "severity": "medium"})
    last = await publish(
        publisher, "canon-escalation-resolved", {"escalation_id": decided.event_id, "decision": "cut cloud spend"}
    )

    summary = await ask(nc, HUB, "get_domain_summary", {"wait_for_seq": {last.stream: last.sequence}})
    mandates = {m["holder"]: m for m in summary["mandates"] if m["holder"].endswith(tag)}
    assert (
        mandates[f"bot-{tag}"]["delegated_from"] == root.event_id and mandates[f"ana-{tag}"]["delegated_from"] is None
    )
    open_ids = [e["escalation_id"] for e in summary["open_escalations"]]
    assert open_one.event_id in open_ids and decided.event_id not in open_ids
    # This test resolved exactly one escalation; the core's get_escalations answers on canon too, with the decision.
    assert summary["resolved_escalations"] == resolved_before + 1
    resolved = (await ask(nc, HUB, "get_escalations", {"status": "resolved", "limit": 200}))["escalations"]
    [mine] = [e for e in resolved if e["escalation_id"] == decided.event_id]
    assert mine["decision"] == "cut cloud spend" and mine["title"] == f"budget {tag}"


async def test_a_revoked_mandate_no_longer_holds(nc, publisher, running_mesh):
    holder = f"bot-{uuid.uuid4().hex[:6]}"
    granted = await publish(
        publisher, "canon-mandate-granted", {"role": "Operator", "holder": holder, "scope": "ops-hub:read"}
    )
    # A mandate delegated from it (a delegated one grants at most its delegator's scope).
    delegate = f"{holder}-delegate"
    below = await publish(
        publisher,
        "canon-mandate-granted",
        {"role": "Helper", "holder": delegate, "scope": "ops-hub:read", "delegated_from": granted.event_id},
    )
    wait = {"wait_for_seq": {below.stream: below.sequence}}
    [held] = (await ask(nc, HUB, "get_mandates", {"holder": holder, **wait}))["mandates"]
    assert held["mandate_id"] == granted.event_id and held["holds"]

    revoked = await ask(
        nc,
        HUB,
        "revoke_mandate",
        {"mandate_id": granted.event_id, "reason": "done", "actor": "ada", "actor_kind": "human"},
    )
    wait = {"wait_for_seq": {revoked["stream"]: revoked["seq"]}}
    assert (await ask(nc, HUB, "get_mandates", {"holder": holder, **wait}))["mandates"] == []
    [gone] = (await ask(nc, HUB, "get_mandates", {"holder": holder, "include_revoked": True}))["mandates"]
    assert (gone["revoked_by"], gone["revoke_reason"]) == ("ada", "done")
    assert not {holder, delegate} & {m["holder"] for m in (await ask(nc, HUB, "get_domain_summary", {}))["mandates"]}
    # Revoking a mandate ends every mandate delegated from it.
    assert (await ask(nc, HUB, "get_mandates", {"holder": delegate}))["mandates"] == []
    [ended] = (await ask(nc, HUB, "get_mandates", {"holder": delegate, "include_revoked": True}))["mandates"]
    assert ended["holds"] is False and ended["delegated_from"] == granted.event_id and ended["revoked_at"] is None
    # Granting is not a contract operation: no caller of a hub can give itself power.
    with pytest.raises(ContractError):
        await ask(nc, HUB, "grant_mandate", {"holder": holder, "role": "x", "scope": "*"}, timeout=2)
    with pytest.raises(ContractError) as unknown:
        await ask(nc, HUB, "revoke_mandate", {"mandate_id": "no-such-mandate"})
    assert unknown.value.code == "not_found"
