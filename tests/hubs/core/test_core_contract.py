"""The generic core through its contract over NATS: events in, answers out, writes as events."""

from __future__ import annotations

import uuid

import pytest

from tests.hubs.core.core_helpers import after, publish
from vsmesh.bus.contract_client import ask
from vsmesh.errors import ContractError


async def test_capability_request_moves_from_requested_to_done(nc, core_hub):
    hub = core_hub.slug
    offered = await ask(nc, hub, "register_capability", {"capability": "provision-vm", "tags": ["infra"]})
    listed = await ask(nc, hub, "list_capabilities", {"tag": "infra", **after(offered)})
    assert [c["capability"] for c in listed["capabilities"]] == ["provision-vm"]

    # A request is an event published as the caller, with its metadata kept.
    asked = await ask(
        nc,
        hub,
        "request_capability",
        {
            "capability": "provision-vm",
            "summary": "2 vCPU",
            "actor": "ada",
            "actor_kind": "agent",
            "metadata": {"k": 1},
        },
    )
    assert asked["stream"] == "TACTICAL" and asked["id"]
    [request] = (await ask(nc, hub, "list_capability_requests", after(asked)))["requests"]
    assert request["request_id"] == asked["id"]
    assert {"status": "requested", "requested_by": "ada", "requested_by_kind": "agent"}.items() <= request.items()
    assert request["metadata"] == {"k": 1} and request["provider"] == hub

    # Each update changes the status and leaves a line of history.
    await ask(nc, hub, "update_capability_request", {"request_id": asked["id"], "status": "accepted"})
    done = await ask(nc, hub, "update_capability_request", {"request_id": asked["id"], "status": "done", "note": "ok"})
    found = await ask(nc, hub, "get_capability_request", {"request_id": asked["id"], **after(done)})
    assert found["status"] == "done" and found["note"] == "ok" and found["last_event_id"] == done["id"]
    assert [h["status"] for h in found["history"]] == ["requested", "accepted", "done"]
    assert (await ask(nc, hub, "list_capability_requests", {"status": "accepted"}))["requests"] == []


async def test_requests_for_what_is_not_offered_or_not_there_are_refused(nc, core_hub):
    with pytest.raises(ContractError, match="offers no 'teleport'") as unknown:
        await ask(nc, core_hub.slug, "request_capability", {"capability": "teleport"})
    assert unknown.value.code == "unknown_capability"
    with pytest.raises(ContractError) as missing:
        await ask(nc, core_hub.slug, "update_capability_request", {"request_id": "nope", "status": "done"})
    assert missing.value.code == "not_found"


async def test_invalid_requests_name_the_field(nc, core_hub):
    with pytest.raises(ContractError, match="status: Input should be") as bad_status:
        await ask(nc, core_hub.slug, "get_risks", {"status": "forgotten"})
    assert bad_status.value.code == "invalid_request"
    with pytest.raises(ContractError, match="body: Field required") as no_body:
        await ask(nc, core_hub.slug, "send_message", {"to": "ops-hub"})
    assert no_body.value.code == "invalid_request"
    with pytest.raises(ContractError, match="actor_kind") as bad_kind:
        await ask(nc, core_hub.slug, "escalate_issue", {"title": "x", "actor_kind": "robot"})
    assert bad_kind.value.code == "invalid_request"


async def test_messages_are_sent_listed_unread_replied_and_marked_read(nc, core_hub):
    hub, to = core_hub.slug, f"person-{uuid.uuid4().hex[:6]}"
    sent = await ask(nc, hub, "send_message", {"to": to, "body": "deploy at 5?", "actor": "bob"})
    unread = await ask(nc, hub, "get_messages", {"to": to, "unread": True, **after(sent)})
    assert [m["message_id"] for m in unread["messages"]] == [sent["id"]]
    assert unread["messages"][0]["sent_by"] == "bob"

    # A reply goes back to the sender by default and joins the thread.
    reply = await ask(nc, hub, "send_message", {"reply_to": sent["id"], "body": "yes", "actor": to})
    thread = await ask(nc, hub, "get_messages", {"thread": sent["id"], **after(reply)})
    assert {m["message_id"] for m in thread["messages"]} == {sent["id"], reply["id"]}
    assert next(m for m in thread["messages"] if m["message_id"] == reply["id"])["recipient"] == "bob"

    read = await ask(nc, hub, "mark_message_read", {"message_id": sent["id"], "actor": to})
    assert (await ask(nc, hub, "get_messages", {"to": to, "unread": True, **after(read)}))["messages"] == []
    [message] = (await ask(nc, hub, "get_messages", {"to": to}))["messages"]
    assert message["read_by"] == to and message["read_at"]


async def test_risk_surfaced_then_escalated(nc, settings, core_hub):
    hub = core_hub.slug
    surfaced = await publish(
        nc, settings, hub, "risk-surfaced", {"title": "disk 91%", "severity": "high", "metadata": {"run": 7}}, "host/a"
    )
    risks = await ask(nc, hub, "get_risks", {"status": "surfaced", **after(surfaced)})
    assert [(r["risk_id"], r["entity"], r["metadata"]) for r in risks["risks"]] == [
        (surfaced["id"], "host/a", {"run": 7})
    ]
    escalated = await publish(
        nc, settings, hub, "risk-escalated", {"risk_id": surfaced["id"], "escalated_to": "canon-hub"}, "host/a"
    )
    assert (await ask(nc, hub, "get_risks", {"status": "surfaced", **after(escalated)}))["risks"] == []
    [risk] = (await ask(nc, hub, "get_risks", {"status": "escalated"}))["risks"]
    assert risk["escalated_to"] == "canon-hub" and risk["title"] == "disk 91%"


async def test_alert_raised_acknowledged_resolved(nc, settings, core_hub):
    hub = core_hub.slug
    raised = await publish(nc, settings, hub, "alert-raised", {"title": "5xx burst", "severity": "critical"}, "svc/x")
    assert (await ask(nc, hub, "get_alerts", {"status": "raised", **after(raised)}))["alerts"][0]["alert_id"] == raised[
        "id"
    ]
    acked = await publish(nc, settings, hub, "alert-acknowledged", {"alert_id": raised["id"], "note": "on it"})
    [alert] = (await ask(nc, hub, "get_alerts", {"status": "acknowledged", **after(acked)}))["alerts"]
    assert alert["acknowledgement_note"] == "on it" and alert["acknowledged_by"] == settings.actor
    resolved = await publish(nc, settings, hub, "alert-resolved", {"alert_id": raised["id"], "resolution": "rollback"})
    [alert] = (await ask(nc, hub, "get_alerts", {"entity": "svc/x", **after(resolved)}))["alerts"]
    assert alert["status"] == "resolved" and alert["resolution"] == "rollback"


async def test_escalate_issue_returns_an_event_that_shows_up(nc, core_hub):
    hub = core_hub.slug
    escalated = await ask(
        nc,
        hub,
        "escalate_issue",
        {"title": "runway < 3 months", "from_hub": "fin-hub", "actor": "fin-bot", "actor_kind": "service"},
    )
    assert escalated["stream"] == "CONSTITUTIONAL"
    [found] = (await ask(nc, hub, "get_escalations", {"status": "raised", **after(escalated)}))["escalations"]
    assert found["escalation_id"] == escalated["id"]
    assert {
        "title": "runway < 3 months",
        "from_hub": "fin-hub",
        "raised_by": "fin-bot",
        "severity": "high",
    }.items() <= found.items()


async def test_annotations_are_listed_by_entity(nc, settings, core_hub):
    hub = core_hub.slug
    added = await publish(nc, settings, hub, "annotation-added", {"category": "ops-backup-gap", "body": "no"}, "db/a")
    [note] = (await ask(nc, hub, "get_annotations", {"entity": "db/a", **after(added)}))["annotations"]
    assert note["annotation_id"] == added["id"] and note["category"] == "ops-backup-gap"


async def test_alerts_are_acknowledged_and_resolved_through_the_contract(nc, settings, core_hub):
    hub = core_hub.slug
    raised = await publish(nc, settings, hub, "alert-raised", {"title": "queue stuck"}, "queue/q1")
    # The write checks the alert exists, so it waits until the hub has seen it.
    ack = {"alert_id": raised["id"], "note": "mine", "actor": "eve", **after(raised)}
    acked = await ask(nc, hub, "acknowledge_alert", ack)
    [alert] = (await ask(nc, hub, "get_alerts", {"entity": "queue/q1", **after(acked)}))["alerts"]
    assert (alert["status"], alert["acknowledged_by"], alert["acknowledgement_note"]) == ("acknowledged", "eve", "mine")
    resolved = await ask(nc, hub, "resolve_alert", {"alert_id": raised["id"], "note": "drained"})
    [alert] = (await ask(nc, hub, "get_alerts", {"entity": "queue/q1", **after(resolved)}))["alerts"]
    assert (alert["status"], alert["resolution"]) == ("resolved", "drained")
    with pytest.raises(ContractError) as missing:
        await ask(nc, hub, "resolve_alert", {"alert_id": "no-such-alert"})
    assert missing.value.code == "not_found"
