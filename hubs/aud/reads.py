"""aud-hub's reads: its findings, open or resolved, from its own read model."""

from __future__ import annotations

from typing import Any, Literal

import sqlalchemy as sa
from pydantic import Field

from vsmesh.hubs.aud.tables import findings
from vsmesh.hubs.contract import ContractRequest, HubContext, Operation
from vsmesh.hubs.core.queries import filtered, rows

SEVERITY_ORDER = sa.case({"critical": 0, "high": 1, "medium": 2, "low": 3}, value=findings.c.severity, else_=4)


class SummaryRequest(ContractRequest):
    pass


class FindingsRequest(ContractRequest):
    status: Literal["open", "resolved"] | None = Field("open", description="open (default), resolved, or null: all")
    check: Literal["chain", "rebuild", "mandates", "freshness"] | None = None
    limit: int = Field(200, ge=1, le=5000)


async def finding_rows(ctx: HubContext, request: FindingsRequest) -> list[dict[str, Any]]:
    query = filtered(findings, sa.select(findings), status=request.status, check_name=request.check)
    async with ctx.read() as conn:
        return await rows(conn, query.order_by(SEVERITY_ORDER, findings.c.raised_at.desc()).limit(request.limit))


async def get_findings(ctx: HubContext, request: FindingsRequest) -> dict[str, Any]:
    return {"hub": ctx.hub, "findings": await finding_rows(ctx, request)}


async def get_domain_summary(ctx: HubContext, request: SummaryRequest) -> dict[str, Any]:
    """Open findings by severity and by check, and the open ones themselves (worst first)."""
    async with ctx.read() as conn:
        counted = (
            await conn.execute(
                sa.select(findings.c.status, findings.c.severity, findings.c.check_name, sa.func.count()).group_by(
                    findings.c.status, findings.c.severity, findings.c.check_name
                )
            )
        ).all()
    by_severity: dict[str, int] = {}
    by_check: dict[str, int] = {}
    for status, severity, check, n in counted:
        if status == "open":
            by_severity[severity] = by_severity.get(severity, 0) + n
            by_check[check] = by_check.get(check, 0) + n
    opened = await finding_rows(ctx, FindingsRequest(limit=50))
    shown = ("finding_id", "check_name", "severity", "title", "raised_at", "raised_event_id")
    return {
        "hub": ctx.hub,
        "open_findings": sum(by_severity.values()),
        "resolved_findings": sum(n for status, _, _, n in counted if status == "resolved"),
        "open_by_severity": by_severity,
        "open_by_check": by_check,
        "findings": [{k: f[k] for k in shown} for f in opened],
    }


def read_operations() -> list[Operation]:
    return [
        Operation("get_domain_summary", SummaryRequest, get_domain_summary, "open findings by severity and check"),
        Operation("get_findings", FindingsRequest, get_findings, "findings (open by default) with their evidence"),
    ]
