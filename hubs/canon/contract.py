"""canon-hub's answers, read from its read model."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from pydantic import Field
from sqlalchemy.ext.asyncio import AsyncConnection

from vsmesh.hubs.canon import manifest
from vsmesh.hubs.canon.tables import (
    escalations,
    mandate_revocations,
    mandates,
    policies,
    policy_versions,
    refused_calls,
)
from vsmesh.hubs.canon.writes import mandate_operations
from vsmesh.hubs.contract import ContractRequest, HubContext, Operation
from vsmesh.hubs.core import core_operations


async def _rows(conn: AsyncConnection, query: sa.Select) -> list[dict[str, Any]]:
    return [dict(r) for r in (await conn.execute(query)).mappings()]


async def domain_summary(conn: AsyncConnection) -> dict[str, Any]:
    """Policies in force, mandates and open escalations."""
    p, m, e = policies.c, mandates.c, escalations.c
    resolved = (
        await conn.execute(sa.select(sa.func.count()).where(e.status == "resolved", e.title.is_not(None)))
    ).scalar_one()
    return {
        "hub": manifest.SLUG,
        "policies": await _rows(
            conn, sa.select(p.policy, p.version, p.title, p.scope, p["values"], p.declared_at).order_by(p.policy)
        ),
        "mandates": await _rows(
            conn,
            sa.select(m.mandate_id, m.role, m.holder, m.scope, m.granted_until, m.delegated_from)
            .where(m.mandate_id.not_in(sa.select(mandate_revocations.c.mandate_id)))
            .order_by(m.role, m.holder, m.mandate_id),
        ),  # fmt: skip
        "open_escalations": await _rows(
            conn,
            sa.select(e.escalation_id, e.title, e.severity, e.from_hub, e.reason, e.raised_at)
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
        return {"policies": await _rows(conn, query.order_by(table.c.policy, table.c.declared_at))}


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
        return {"refusals": await _rows(conn, query)}


def operations() -> list[Operation]:
    """canon-hub's contract: the core's operations plus its own (its own win on a shared name)."""
    own = [
        Operation("get_domain_summary", SummaryRequest, get_domain_summary, "policies, mandates, escalations"),
        Operation("get_policies", PoliciesRequest, get_policies, "policies in force, or every version"),
        Operation("get_refusals", RefusalsRequest, get_refusals, "calls the gateway refused: who, what, which mandate"),
        *mandate_operations(),
    ]
    names = {op.name for op in own}
    return [*(op for op in core_operations() if op.name not in names), *own]
