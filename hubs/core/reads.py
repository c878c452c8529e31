"""The core contract's reads: risks, alerts, escalations, capabilities, requests, messages, annotations."""

from __future__ import annotations

from typing import Any, Literal

import sqlalchemy as sa
from pydantic import Field

from vsmesh.errors import NotFound
from vsmesh.hubs.contract import ContractRequest, HubContext, Operation
from vsmesh.hubs.core import queries
from vsmesh.hubs.core.tables import alerts, annotations, capabilities, capability_requests, escalations, messages, risks

Limit = Field(100, ge=1, le=1000, description="at most this many rows, newest first")
RiskStatus = Literal["surfaced", "mitigated", "escalated", "accepted"]
AlertStatus = Literal["raised", "acknowledged", "resolved"]
RequestStatus = Literal["requested", "accepted", "in-progress", "done", "rejected", "cancelled"]
Severity = Literal["info", "low", "medium", "high", "critical"]


class RisksRequest(ContractRequest):
    status: RiskStatus | None = None
    severity: Severity | None = None
    entity: str | None = None
    limit: int = Limit


async def get_risks(ctx: HubContext, request: RisksRequest) -> dict[str, Any]:
    query = sa.select(risks).order_by(risks.c.surfaced_at.desc(), risks.c.risk_id.desc()).limit(request.limit)
    query = queries.filtered(risks, query, status=request.status, severity=request.severity, entity=request.entity)
    async with ctx.read() as conn:
        return {"hub": ctx.hub, "risks": await queries.rows(conn, query)}


class AlertsRequest(ContractRequest):
    status: AlertStatus | None = None
    severity: Severity | None = None
    entity: str | None = None
    limit: int = Limit


async def get_alerts(ctx: HubContext, request: AlertsRequest) -> dict[str, Any]:
    query = sa.select(alerts).order_by(alerts.c.raised_at.desc(), alerts.c.alert_id.desc()).limit(request.limit)
    query = queries.filtered(alerts, query, status=request.status, severity=request.severity, entity=request.entity)
    async with ctx.read() as conn:
        return {"hub": ctx.hub, "alerts": await queries.rows(conn, query)}


class EscalationsRequest(ContractRequest):
    status: Literal["raised", "resolved"] | None = None
    limit: int = Limit


async def get_escalations(ctx: HubContext, request: EscalationsRequest) -> dict[str, Any]:
    e = escalations
    query = sa.select(e).order_by(e.c.raised_at.desc(), e.c.escalation_id.desc()).limit(request.limit)
    async with ctx.read() as conn:
        return {
            "hub": ctx.hub,
            "escalations": await queries.rows(conn, queries.filtered(e, query, status=request.status)),
        }


class CapabilitiesRequest(ContractRequest):
    tag: str | None = None


async def list_capabilities(ctx: HubContext, request: CapabilitiesRequest) -> dict[str, Any]:
    query = sa.select(capabilities).order_by(capabilities.c.capability)
    if request.tag:
        query = query.where(capabilities.c.tags.contains([request.tag]))
    async with ctx.read() as conn:
        return {"hub": ctx.hub, "capabilities": await queries.rows(conn, query)}


class CapabilityRequestsRequest(ContractRequest):
    status: RequestStatus | None = None
    capability: str | None = None
    limit: int = Limit


async def list_capability_requests(ctx: HubContext, request: CapabilityRequestsRequest) -> dict[str, Any]:
    r = capability_requests
    query = sa.select(r).order_by(r.c.requested_at.desc(), r.c.request_id.desc()).limit(request.limit)
    query = queries.filtered(r, query, status=request.status, capability=request.capability)
    async with ctx.read() as conn:
        found = await queries.rows(conn, query)
        history = await queries.histories(conn, [row["request_id"] for row in found])
    return {"hub": ctx.hub, "requests": [{**row, "history": history[row["request_id"]]} for row in found]}


class OneCapabilityRequest(ContractRequest):
    request_id: str = Field(min_length=1)


async def get_capability_request(ctx: HubContext, request: OneCapabilityRequest) -> dict[str, Any]:
    async with ctx.read() as conn:
        found = await queries.capability_request(conn, request.request_id)
        if found is None:
            raise NotFound(f"{ctx.hub} has no capability request {request.request_id}")
        history = await queries.histories(conn, [request.request_id])
    return {**found, "history": history[request.request_id]}


class MessagesRequest(ContractRequest):
    to: str | None = Field(None, description="the recipient: a hub slug or an actor")
    unread: bool = False
    thread: str | None = None
    limit: int = Limit


async def get_messages(ctx: HubContext, request: MessagesRequest) -> dict[str, Any]:
    m = messages
    query = sa.select(m).order_by(m.c.sent_at.desc(), m.c.message_id.desc()).limit(request.limit)
    query = queries.filtered(m, query, recipient=request.to, thread_id=request.thread)
    if request.unread:
        query = query.where(m.c.read_at.is_(None))
    async with ctx.read() as conn:
        return {"hub": ctx.hub, "messages": await queries.rows(conn, query)}


class AnnotationsRequest(ContractRequest):
    entity: str | None = None
    category: str | None = None
    limit: int = Limit


async def get_annotations(ctx: HubContext, request: AnnotationsRequest) -> dict[str, Any]:
    a = annotations
    query = sa.select(a).order_by(a.c.added_at.desc(), a.c.annotation_id.desc()).limit(request.limit)
    query = queries.filtered(a, query, entity=request.entity, category=request.category)
    async with ctx.read() as conn:
        return {"hub": ctx.hub, "annotations": await queries.rows(conn, query)}


def read_operations() -> list[Operation]:
    """The core reads, in the order `vsmesh` lists them."""
    return [
        Operation("get_risks", RisksRequest, get_risks, "risks, newest first (filters: status, severity, entity)"),
        Operation("get_alerts", AlertsRequest, get_alerts, "alerts, newest first (filters: status, severity, entity)"),
        Operation("get_escalations", EscalationsRequest, get_escalations, "issues escalated to this hub"),
        Operation("list_capabilities", CapabilitiesRequest, list_capabilities, "the capabilities this hub offers"),
        Operation(
            "list_capability_requests", CapabilityRequestsRequest, list_capability_requests, "requests with history"
        ),
        Operation("get_capability_request", OneCapabilityRequest, get_capability_request, "one request"),
        Operation("get_messages", MessagesRequest, get_messages, "messages (filters: to, unread, thread)"),
        Operation("get_annotations", AnnotationsRequest, get_annotations, "annotations (filters: entity, category)"),
    ]
