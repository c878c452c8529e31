"""ops-hub's answers, read from its read model."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from pydantic import Field
from sqlalchemy.ext.asyncio import AsyncConnection

from vsmesh.hubs.contract import ContractRequest, HubContext, Operation
from vsmesh.hubs.ops.tables import alerts, recent_events, services


async def domain_summary(conn: AsyncConnection, *, recent: int = 10) -> dict[str, Any]:
    """Services by health, open alerts and the latest events."""
    rows = (
        await conn.execute(
            sa.select(
                services.c.name,
                services.c.status,
                services.c.environment,
                services.c.owner,
                services.c.checked_at,
            ).order_by(services.c.name)
        )
    ).mappings()
    service_list = [dict(r) for r in rows]
    by_status: dict[str, int] = {}
    for s in service_list:
        key = s["status"] or "unknown"
        by_status[key] = by_status.get(key, 0) + 1
    open_alerts = (
        await conn.execute(sa.select(sa.func.count()).select_from(alerts).where(alerts.c.status == "raised"))
    ).scalar_one()
    events = (
        await conn.execute(
            sa.select(
                recent_events.c.time,
                recent_events.c.type,
                recent_events.c.entity,
                recent_events.c.actor,
                recent_events.c.summary,
            )
            .order_by(recent_events.c.time.desc(), recent_events.c.seq.desc())
            .limit(recent)
        )
    ).mappings()
    return {
        "hub": "ops-hub",
        "services": service_list,
        "by_status": by_status,
        "open_alerts": open_alerts,
        "recent_events": [dict(e) for e in events],
    }


class SummaryRequest(ContractRequest):
    recent: int = Field(10, ge=0, le=200, description="how many of the latest events to include")


async def get_domain_summary(ctx: HubContext, request: SummaryRequest) -> dict[str, Any]:
    async with ctx.read() as conn:
        return await domain_summary(conn, recent=request.recent)


def operations() -> list[Operation]:
    """ops-hub's contract operations (the generic core's come with the hubs issue)."""
    return [Operation("get_domain_summary", SummaryRequest, get_domain_summary, "services by health, alerts, events")]
