"""tally-hub's write operation: add to a counter (an MCP tool for agents whose mandate covers it)."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from vsmesh.hubs.contract import HubContext, Operation
from vsmesh.hubs.core.writes import WriteRequest


class CountRequest(WriteRequest):
    counter: str = Field(min_length=1, max_length=100)
    by: int = Field(1, ge=1, le=1_000_000)


async def count(ctx: HubContext, request: CountRequest) -> dict[str, Any]:
    data = {"counter": request.counter, "by": request.by}
    return await ctx.publish("tally-counted", subject=f"counter/{request.counter}", data=data,
                             actor=request.actor, actor_kind=request.actor_kind)  # fmt: skip


def write_operations() -> list[Operation]:
    return [Operation("count", CountRequest, count, "add to a counter", writes=True)]
