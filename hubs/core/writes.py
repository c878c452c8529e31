"""The core contract's writes: each validates, publishes one event as the caller, and returns its id.

Checks against the read model (is the capability offered, does the request exist) answer from what
the hub has applied; a caller that just published passes `wait_for_seq` to see its own write.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

import sqlalchemy as sa
from pydantic import Field

from vsmesh.errors import ContractError, NotFound
from vsmesh.events.governance import ADMIN_ONLY_TYPES, GOVERNANCE_TYPES
from vsmesh.hubs.contract import ContractRequest, HubContext, Operation
from vsmesh.hubs.core import queries
from vsmesh.hubs.core.reads import Severity
from vsmesh.hubs.core.tables import alerts, capabilities

Slug = Field(min_length=1, max_length=200, pattern=r"^[a-z0-9][a-z0-9-]*$")
Text = Field(min_length=1, max_length=10_000)


class WriteRequest(ContractRequest):
    """Who acts (recorded on the event instead of the hub's own identity), free-form metadata, and the
    correlation id that ties the write to its caller's session (the MCP gateway sets one per session).

    Every write operation's request derives from this class; that is how the gateway tells writes from reads.
    """

    actor: str | None = Field(None, min_length=1, max_length=200)
    actor_kind: Literal["human", "agent", "service"] | None = None
    metadata: dict[str, Any] = {}
    correlation_id: str | None = Field(None, min_length=1, max_length=200)
    # The event that caused this write (the gateway: the approval a held call ran under).
    causation_id: str | None = Field(None, min_length=1, max_length=200)
    # The id of the event this write publishes, when the caller must be able to send it again and have it stored
    # once (the gateway's approved run, derived from the approval): JetStream drops a repeat within its window.
    event_id: str | None = Field(None, min_length=1, max_length=200)


async def publish_as_caller(
    ctx: HubContext, event_type: str, request: WriteRequest, subject: str | None, data: dict, **ids: Any
) -> dict[str, Any]:
    """Publish as the caller; the event's data carries the request's metadata. An explicit correlation id
    (a reply's thread) wins over the request's."""
    data = {k: v for k, v in data.items() if v is not None}
    if request.metadata:
        data["metadata"] = {**data.get("metadata", {}), **request.metadata}
    if request.correlation_id and not ids.get("correlation_id"):
        ids["correlation_id"] = request.correlation_id
    if request.causation_id and not ids.get("causation_id"):
        ids["causation_id"] = request.causation_id
    if request.event_id and not ids.get("event_id"):
        ids["event_id"] = request.event_id
    return await ctx.publish(
        event_type, subject=subject, data=data, actor=request.actor, actor_kind=request.actor_kind, **ids
    )


class RegisterCapabilityRequest(WriteRequest):
    capability: str = Slug
    description: str | None = None
    tags: list[str] = []
    parameters_schema: dict[str, Any] | None = None


async def register_capability(ctx: HubContext, request: RegisterCapabilityRequest) -> dict[str, Any]:
    data = request.model_dump(include={"capability", "description", "tags", "parameters_schema"})
    return await publish_as_caller(ctx, "capability-registered", request, f"capability/{request.capability}", data)


class RequestCapabilityRequest(WriteRequest):
    capability: str = Slug
    summary: str | None = None
    parameters: dict[str, Any] = {}
    due_by: dt.datetime | None = None


async def request_capability(ctx: HubContext, request: RequestCapabilityRequest) -> dict[str, Any]:
    async with ctx.read() as conn:
        offered = [r["capability"] for r in await queries.rows(conn, sa.select(capabilities.c.capability))]
    if request.capability not in offered:
        known = ", ".join(sorted(offered)) or "none yet"
        raise ContractError("unknown_capability", f"{ctx.hub} offers no {request.capability!r}; it offers: {known}")
    data = request.model_dump(mode="json", include={"capability", "summary", "parameters", "due_by"})
    data["provider"] = ctx.hub
    return await publish_as_caller(ctx, "capability-requested", request, f"capability/{request.capability}", data)


class UpdateCapabilityRequest(WriteRequest):
    request_id: str = Field(min_length=1)
    status: Literal["accepted", "in-progress", "done", "rejected", "cancelled"]
    note: str | None = None


async def update_capability_request(ctx: HubContext, request: UpdateCapabilityRequest) -> dict[str, Any]:
    async with ctx.read() as conn:
        found = await queries.capability_request(conn, request.request_id)
    if found is None:
        raise NotFound(f"{ctx.hub} has no capability request {request.request_id}")
    data = {"request_id": request.request_id, "status": request.status, "note": request.note}
    subject = f"capability/{found['capability']}"
    ids = {"causation_id": request.request_id}
    return await publish_as_caller(ctx, "capability-request-updated", request, subject, data, **ids)


class EscalateRequest(WriteRequest):
    title: str = Text
    severity: Severity = "high"
    reason: str | None = None
    from_hub: str | None = None
    cause_event_id: str | None = None
    subject: str | None = Field(None, description="the entity the issue is about, e.g. service/gitea")


async def escalate_issue(ctx: HubContext, request: EscalateRequest) -> dict[str, Any]:
    data = request.model_dump(include={"title", "severity", "reason", "from_hub", "cause_event_id"})
    return await publish_as_caller(
        ctx, "canon-escalation-raised", request, request.subject, data, causation_id=request.cause_event_id
    )


class SendMessageRequest(WriteRequest):
    to: str | None = Field(None, description="a hub slug or an actor; default: this hub, or the sender replied to")
    body: str = Text
    title: str | None = None
    priority: Literal["low", "normal", "high", "urgent"] = "normal"
    reply_to: str | None = None
    subject: str | None = None


async def send_message(ctx: HubContext, request: SendMessageRequest) -> dict[str, Any]:
    to, ids = request.to or ctx.hub, {}
    if request.reply_to:
        async with ctx.read() as conn:
            parent = await queries.message(conn, request.reply_to)
        if parent is None:
            raise NotFound(f"{ctx.hub} has no message {request.reply_to} to reply to")
        # The thread travels as correlation id, so the handler files the reply without reading.
        ids = {"correlation_id": parent["thread_id"], "causation_id": request.reply_to}
        to = request.to or parent["sent_by"]
    data = {"to": to, "body": request.body, "title": request.title, "priority": request.priority}
    data["reply_to"] = request.reply_to
    return await publish_as_caller(ctx, "message-sent", request, request.subject, data, **ids)


class MarkReadRequest(WriteRequest):
    message_id: str = Field(min_length=1)


async def mark_message_read(ctx: HubContext, request: MarkReadRequest) -> dict[str, Any]:
    async with ctx.read() as conn:
        found = await queries.message(conn, request.message_id)
    if found is None:
        raise NotFound(f"{ctx.hub} has no message {request.message_id}")
    data = {"message_id": request.message_id}
    return await publish_as_caller(ctx, "message-read", request, found["entity"], data, causation_id=request.message_id)


class AlertFollowUpRequest(WriteRequest):
    alert_id: str = Field(min_length=1)
    note: str | None = Field(None, description="acknowledged: who is on it; resolved: what fixed it")


async def known(ctx: HubContext, key: sa.Column, wanted: str) -> dict[str, Any]:
    """The row of `key`'s table whose `key` is `wanted` (an alert's id, a blocker's …); NotFound when the hub
    has applied none."""
    async with ctx.read() as conn:
        found = await queries.one(conn, sa.select(key.table).where(key == wanted))
    if found is None:
        what = key.name.removesuffix("_id").replace("_", " ")
        raise NotFound(f"{ctx.hub} has no {what} {wanted} (after a write, pass its wait_for_seq)")
    return found


async def follow_up(
    ctx: HubContext, event_type: str, request: WriteRequest, opened_by: sa.Column, data: dict[str, Any]
) -> dict[str, Any]:
    """Publish a follow-up of the thing whose id `data` names under `opened_by`'s column (an alert, a risk …),
    on that thing's entity and caused by it; NotFound when the hub has applied no such thing."""
    thing = data[opened_by.name]
    found = await known(ctx, opened_by, thing)
    return await publish_as_caller(ctx, event_type, request, found["entity"], data, causation_id=thing)


async def acknowledge_alert(ctx: HubContext, request: AlertFollowUpRequest) -> dict[str, Any]:
    data = {"alert_id": request.alert_id, "note": request.note}
    return await follow_up(ctx, "alert-acknowledged", request, alerts.c.alert_id, data)


async def resolve_alert(ctx: HubContext, request: AlertFollowUpRequest) -> dict[str, Any]:
    data = {"alert_id": request.alert_id, "resolution": request.note}
    return await follow_up(ctx, "alert-resolved", request, alerts.c.alert_id, data)


class RecordEventRequest(WriteRequest):
    type: str = Slug
    widget: str | None = Field(None, description="the widget (or entity) the event is about: its subject")
    data: dict[str, Any] = {}


async def record_event(ctx: HubContext, request: RecordEventRequest) -> dict[str, Any]:
    """Any type the hub declares, as `vsmesh publish` would store it (its schema checks the data)."""
    if request.type in GOVERNANCE_TYPES | ADMIN_ONLY_TYPES:
        # Whoever may call a hub's contract must not re-manifest the hub, set canon's rules or undo history here.
        raise ContractError(
            "governance_type",
            f"record_event does not publish {request.type!r}: it changes how the mesh sees {ctx.hub}; "
            "use `vsmesh hub bootstrap` (manifests, widgets), `vsmesh revert` (reverts) or ask the admin (canon)",
        )
    return await publish_as_caller(ctx, request.type, request, request.widget, dict(request.data))


def record_event_operation() -> Operation:
    """Not the core's: a hub offers it when any of its declared types may be written by its callers (a manifest
    hub's only write; dev-hub's and ops-hub's for what their own operations do not name)."""
    return Operation("record_event", RecordEventRequest, record_event, "publish one declared event", writes=True)


def write_operations() -> list[Operation]:
    """The core writes; each returns {id, stream, seq} of the event it published."""
    return [
        Operation(
            "register_capability", RegisterCapabilityRequest, register_capability, "offer a capability", writes=True
        ),
        Operation(
            "request_capability",
            RequestCapabilityRequest,
            request_capability,
            "ask for an offered capability",
            writes=True,
        ),
        Operation(
            "update_capability_request",
            UpdateCapabilityRequest,
            update_capability_request,
            "move a request on",
            writes=True,
        ),
        Operation("escalate_issue", EscalateRequest, escalate_issue, "escalate an issue to this hub", writes=True),
        Operation(
            "send_message", SendMessageRequest, send_message, "send a message (or a reply) via this hub", writes=True
        ),
        Operation("mark_message_read", MarkReadRequest, mark_message_read, "mark a message read", writes=True),
        Operation("acknowledge_alert", AlertFollowUpRequest, acknowledge_alert, "take an alert on", writes=True),
        Operation("resolve_alert", AlertFollowUpRequest, resolve_alert, "say an alert's cause is gone", writes=True),
    ]
