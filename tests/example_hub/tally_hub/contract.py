"""tally-hub's contract: the core's operations, its summary and one write (each also an MCP tool)."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from pydantic import Field

from tally_hub.projector import counts, ticks
from vsmesh.hubs.contract import ContractRequest, HubContext, Operation
from vsmesh.hubs.core.operations import with_core
from vsmesh.hubs.core.writes import WriteRequest


class SummaryRequest(ContractRequest):
    pass


class CountRequest(WriteRequest):
    counter: str = Field(min_length=1, max_length=100)
    by: int = Field(1, ge=1, le=1_000_000)


async def get_domain_summary(ctx: HubContext, request: SummaryRequest) -> dict[str, Any]:
    async with ctx.read() as conn:
        totals = (
            await conn.execute(sa.select(counts.c.counter, sa.func.sum(counts.c.by)).group_by(counts.c.counter))
        ).all()
        ticked = (await conn.execute(sa.select(sa.func.count()).select_from(ticks))).scalar_one()
    return {"hub": ctx.hub, "counters": {name: int(total) for name, total in totals}, "ticks": ticked}


async def count(ctx: HubContext, request: CountRequest) -> dict[str, Any]:
    data = {"counter": request.counter, "by": request.by}
    return await ctx.publish("tally-counted", subject=f"counter/{request.counter}", data=data,
                             actor=request.actor, actor_kind=request.actor_kind)  # fmt: skip


def operations() -> list[Operation]:
    return with_core([
        Operation("get_domain_summary", SummaryRequest, get_domain_summary, "each counter's total, and the ticks"),
        Operation("count", CountRequest, count, "add to a counter", writes=True),
    ])  # fmt: skip
