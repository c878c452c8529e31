"""tally-hub's read operation: its summary (its contract adds the core's operations and its write)."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from tally_hub.projector import counts, ticks
from vsmesh.hubs.contract import ContractRequest, HubContext, Operation


class SummaryRequest(ContractRequest):
    pass


async def get_domain_summary(ctx: HubContext, request: SummaryRequest) -> dict[str, Any]:
    async with ctx.read() as conn:
        totals = (
            await conn.execute(sa.select(counts.c.counter, sa.func.sum(counts.c.by)).group_by(counts.c.counter))
        ).all()
        ticked = (await conn.execute(sa.select(sa.func.count()).select_from(ticks))).scalar_one()
    return {"hub": ctx.hub, "counters": {name: int(total) for name, total in totals}, "ticks": ticked}


def read_operations() -> list[Operation]:
    return [Operation("get_domain_summary", SummaryRequest, get_domain_summary, "each counter's total, and the ticks")]
