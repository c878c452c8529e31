"""canon-hub's read operations: policies, mandates, escalations, refused calls and agents' actions."""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

import sqlalchemy as sa
from pydantic import Field
from sqlalchemy.ext.asyncio import AsyncConnection

from vsmesh.errors import ContractError
from vsmesh.hubs.audit import agent_actions
from vsmesh.hubs.canon import manifest
from vsmesh.hubs.canon.approvals import approval_reads
from vsmesh.hubs.canon.tables import (
    escalation_clocks,
    escalations,
    mandate_revocations,
    mandates,
    policies,
    policy_versions,
    refused_calls,
    silences,
)
from vsmesh.hubs.contract import ContractRequest, HubContext, Operation
from vsmesh.hubs.core.queries import rows
from vsmesh.hubs.core.reads import Limit


def with_clocks(*columns: sa.ColumnElement) -> sa.Select:
    """Escalations beside their clock: the horizon raised with, and whether canon's SLA ran out unanswered."""
    k = escalation_clocks.c
    clock = (
        k.horizon,
        k.re_escalations,
        k.overdue_since,
        k.due_at.label("last_due_at"),
        (k.overdue_since.is_not(None) & (escalations.c.status == "raised")).label("overdue"),
    )
    return sa.select(*columns, *clock).select_from(
        escalations.outerjoin(escalation_clocks, k.escalation_id == escalations.c.escalation_id)
    )


def ended_mandates() -> sa.Select:
    """The ids of mandates that no longer hold: each revoked one and every mandate delegated from it, at any
    depth (a delegated mandate grants at most its delegator's scope; UNION stops at a loop)."""
    ended = sa.select(mandate_revocations.c.mandate_id).cte("ended", recursive=True)
    below = mandates.alias("delegated")
    ended = ended.union(sa.select(below.c.mandate_id).where(below.c.delegated_from == ended.c.mandate_id))
    return sa.select(ended.c.mandate_id)


async def domain_summary(conn: AsyncConnection) -> dict[str, Any]:
    """Policies in force, mandates and open escalations (overdue ones say so)."""
    p, m, e = policies.c, mandates.c, escalations.c
    resolved = (
        await conn.execute(sa.select(sa.func.count()).where(e.status == "resolved", e.title.is_not(None)))
    ).scalar_one()
    return {
        "hub": manifest.SLUG,
        "policies": await rows(
            conn, sa.select(p.policy, p.version, p.title, p.scope, p["values"], p.declared_at).order_by(p.policy)
        ),
        "mandates": await rows(
            conn,
            sa.select(m.mandate_id, m.role, m.holder, m.scope, m.granted_until, m.delegated_from)
            .where(m.mandate_id.not_in(ended_mandates()))
            .order_by(m.role, m.holder, m.mandate_id),
        ),  # fmt: skip
        "open_escalations": await rows(
            conn,
            with_clocks(e.escalation_id, e.title, e.severity, e.from_hub, e.reason, e.raised_at)
            .where(e.status == "raised")
            .order_by(e.raised_at.desc()),
        ),  # fmt: skip
        "resolved_escalations": resolved,
    }


class SummaryRequest(ContractRequest):
    pass


class PoliciesRequest(ContractRequest):
    scope: str | None = Field(None, description="only policies of this scope")
    policy: str | None = Field(None, description="only this policy (its slug)")
    history: bool = Field(False, description="every declared version, not only the one in force")


class EscalationsRequest(ContractRequest):
    status: Literal["raised", "resolved"] | None = None
    overdue: bool | None = Field(None, description="only those past (true) or within (false) canon's SLA")
    limit: int = Limit


async def get_escalations(ctx: HubContext, request: EscalationsRequest) -> dict[str, Any]:
    """Issues escalated to canon, newest first, each with its horizon and whether it is overdue."""
    e = escalations.c
    query = with_clocks(escalations).order_by(e.raised_at.desc(), e.escalation_id.desc()).limit(request.limit)
    if request.status is not None:
        query = query.where(e.status == request.status)
    if request.overdue is not None:
        overdue = escalation_clocks.c.overdue_since.is_not(None) & (e.status == "raised")
        query = query.where(overdue if request.overdue else sa.not_(overdue))
    async with ctx.read() as conn:
        return {"hub": ctx.hub, "escalations": await rows(conn, query)}


class KnownEventsRequest(ContractRequest):
    ids: list[str] = Field(..., max_length=5000, description="escalation or re-escalation event ids")


async def known_events(ctx: HubContext, request: KnownEventsRequest) -> dict[str, Any]:
    """Which of these escalations (or latest re-escalations) canon holds: a timed check sends only the rest."""
    e, k = escalations.c, escalation_clocks.c
    async with ctx.read() as conn:
        raised = (await conn.execute(sa.select(e.escalation_id).where(e.escalation_id.in_(request.ids)))).scalars()
        again = (await conn.execute(sa.select(k.overdue_event_id).where(k.overdue_event_id.in_(request.ids)))).scalars()
        return {"known": sorted({*raised, *again})}


async def get_domain_summary(ctx: HubContext, request: SummaryRequest) -> dict[str, Any]:
    async with ctx.read() as conn:
        return await domain_summary(conn)


async def get_policies(ctx: HubContext, request: PoliciesRequest) -> dict[str, Any]:
    table = policy_versions if request.history else policies
    query = sa.select(*(c for c in table.c if c.name != "version_key"))
    if request.scope is not None:
        query = query.where(table.c.scope == request.scope)
    if request.policy is not None:
        query = query.where(table.c.policy == request.policy)
    async with ctx.read() as conn:
        return {"policies": await rows(conn, query.order_by(table.c.policy, table.c.declared_at))}


class RefusalsRequest(ContractRequest):
    actor_kind: str | None = Field(None, pattern="^(human|agent|service)$", description="only actors of this kind")
    limit: int = Field(50, ge=1, le=1000, description="the latest N refusals")


async def get_refusals(ctx: HubContext, request: RefusalsRequest) -> dict[str, Any]:
    """The gateway's refused calls, newest first: who tried what, which mandate was missing."""
    r = refused_calls.c
    query = sa.select(refused_calls).order_by(r.at.desc(), r.event_id).limit(request.limit)
    if request.actor_kind is not None:
        query = query.where(r.actor_kind == request.actor_kind)
    async with ctx.read() as conn:
        return {"refusals": await rows(conn, query)}


class AgentActionsRequest(ContractRequest):
    limit: int = Field(50, ge=1, le=500, description="the newest N agent actions")
    before: dt.datetime | None = Field(None, description="only actions before this time: a page's next_before")
    # Not `actor`: the gateway refuses that name in any request (the actor is the verified caller).
    agent: str | None = Field(None, description="only this agent's actions")
    hub: str | None = Field(None, description="only actions on this hub")
    scan: int = Field(2000, ge=100, le=20000, description="read at most the latest N events of each horizon")


async def get_agent_actions(ctx: HubContext, request: AgentActionsRequest) -> dict[str, Any]:
    """Agents' actions on every hub, newest first, each reverted (by whom, why) or standing.

    Read from the streams through the bus, inside a bounded window (hubs/audit.py): agents act on every hub
    in every horizon, and canon may read no other hub's tables, so no read model here could hold them
    without canon's projector following all four streams — at ops' rates, for a page of rows.
    """
    if ctx.point_in_time is not None:
        raise ContractError(
            "invalid_request", "get_agent_actions reads the log, not a point-in-time copy: page back with `before`"
        )
    found = await agent_actions(
        ctx.js, limit=request.limit, scan=request.scan, before=request.before, agent=request.agent, hub=request.hub
    )
    return {"hub": ctx.hub, **found}


class MandatesRequest(ContractRequest):
    holder: str | None = Field(None, description="only this holder's mandates")
    include_revoked: bool = Field(False, description="also those revoked, or delegated from one revoked (holds=false)")


async def get_mandates(ctx: HubContext, request: MandatesRequest) -> dict[str, Any]:
    m, r = mandates.c, mandate_revocations.c
    holds = m.mandate_id.not_in(ended_mandates())
    query = sa.select(m, r.revoked_at, r.revoked_by, r.reason.label("revoke_reason"), holds.label("holds"))
    query = query.select_from(mandates.outerjoin(mandate_revocations, r.mandate_id == m.mandate_id))
    if request.holder is not None:
        query = query.where(m.holder == request.holder)
    if not request.include_revoked:
        query = query.where(holds)
    async with ctx.read() as conn:
        return {"mandates": await rows(conn, query.order_by(m.granted_at, m.mandate_id))}


class SilencesRequest(ContractRequest):
    include_expired: bool = Field(False, description="also silences whose time ran out")


async def get_silences(ctx: HubContext, request: SilencesRequest) -> dict[str, Any]:
    """Silences on notifications in force or ahead (with `include_expired`, every one), the latest ending last."""
    s = silences.c
    query = sa.select(silences).where(s.matchers.is_not(None)).order_by(s.until.desc(), s.silence_id)
    if not request.include_expired:
        query = query.where(s.until > sa.func.now())
    async with ctx.read() as conn:
        return {"hub": ctx.hub, "silences": await rows(conn, query)}


def read_operations() -> list[Operation]:
    return [
        Operation("get_domain_summary", SummaryRequest, get_domain_summary, "policies, mandates, escalations"),
        Operation("get_policies", PoliciesRequest, get_policies, "policies in force, or every version"),
        Operation("known_events", KnownEventsRequest, known_events, "which of these escalations canon holds"),
        Operation("get_escalations", EscalationsRequest, get_escalations, "escalations, overdue past canon's SLA"),
        Operation("get_refusals", RefusalsRequest, get_refusals, "calls the gateway refused: who, what, which mandate"),
        Operation("get_agent_actions", AgentActionsRequest, get_agent_actions, "agents' actions, revert state"),
        Operation("get_mandates", MandatesRequest, get_mandates, "who may act, within which scope, until when"),
        Operation("get_silences", SilencesRequest, get_silences, "silences in force or ahead, who set them, why"),
        *approval_reads(),
    ]
