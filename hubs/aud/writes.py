"""aud-hub's write: run the audit now (what its timed job does on schedule); it publishes the findings that
changed, as the hub itself."""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from pydantic import Field

from vsmesh.errors import ContractError
from vsmesh.hubs import discovered
from vsmesh.hubs.aud.audit_run import audit
from vsmesh.hubs.contract import HubContext, Operation
from vsmesh.hubs.core.writes import WriteRequest

CheckName = Literal["chain", "rebuild", "mandates", "freshness"]


class RunAuditRequest(WriteRequest):
    checks: list[CheckName] | None = Field(None, min_length=1, description="only these checks (default: all)")
    hubs: list[str] | None = Field(
        None, min_length=1, max_length=100, description="hubs the rebuild check compares (default: every coded hub)"
    )
    period_s: float | None = Field(
        None, gt=0, le=366 * 86400, description="how far back the mandate check reads (default: two audit periods)"
    )


async def run_audit(ctx: HubContext, request: RunAuditRequest) -> dict[str, Any]:
    unknown = sorted(set(request.hubs or ()) - set(discovered()))
    if unknown:  # refused before anything runs: a typo would otherwise compare nothing and pass
        raise ContractError(
            "invalid_request", f"hubs: unknown {', '.join(unknown)}; coded hubs: {', '.join(discovered())}"
        )
    period = request.period_s or 2 * ctx.settings.audit_every_s  # overlapping: a run that was missed is covered
    since = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=period)
    asked_by = {
        "requested_by": request.actor or ctx.settings.actor,
        "requested_by_kind": request.actor_kind or ctx.settings.actor_kind,
        **request.metadata,
    }
    return await audit(ctx, only=request.checks, since=since, hubs=request.hubs, asked_by=asked_by)


def write_operations() -> list[Operation]:
    return [
        Operation(
            "run_audit", RunAuditRequest, run_audit, "run the audit checks now; publishes what changed", writes=True
        ),
    ]
