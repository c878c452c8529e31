"""canon-hub's write operations: revoking a mandate, silencing notifications.

Granting is not a contract operation: `canon-mandate-granted` is a governance event only the admin
publishes (events/governance.py; `vsmesh publish canon-mandate-granted --hub canon-hub`), so no caller of
a hub's contract, an agent through the gateway included, can give itself power. Revoking only takes
power away: any caller whose mandates cover `canon-hub:revoke_mandate` may do it.

A mandate's `scope` is what the gateway enforces (gateway/mcp/mandates.py): entries `HUB[:OPERATIONS]`,
separated by commas or spaces, where HUB is a hub slug or a glob (`*`, `ops-*`) and OPERATIONS is `read`,
`write`, `*` or an operation name or glob (`get_*`); a bare HUB allows every operation of that hub.

A silence is matchers (field → glob over hub, type, entity, horizon, severity; all must match) until a time; one
starting later is a maintenance window declared ahead. The notifier (notify/) records what a silence held back
as suppressed, never drops it, and says when a silence's time ran out.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa
from pydantic import Field, field_validator

from vsmesh.errors import ContractError, NotFound
from vsmesh.events.envelope import new_event_id
from vsmesh.events.schemas.notification import SILENCE_FIELDS
from vsmesh.hubs.canon.approvals import approval_writes
from vsmesh.hubs.canon.tables import mandates
from vsmesh.hubs.contract import HubContext, Operation
from vsmesh.hubs.core import queries
from vsmesh.hubs.core.writes import WriteRequest, publish_as_caller


class RevokeMandateRequest(WriteRequest):
    mandate_id: str = Field(min_length=1, description="the id of the grant (see get_mandates)")
    reason: str | None = None


async def revoke_mandate(ctx: HubContext, request: RevokeMandateRequest) -> dict[str, Any]:
    async with ctx.read() as conn:
        found = await queries.one(conn, sa.select(mandates.c.holder).where(mandates.c.mandate_id == request.mandate_id))
    if found is None:
        raise NotFound(f"canon-hub has no mandate {request.mandate_id}; see get_mandates")
    data = {"mandate_id": request.mandate_id, "reason": request.reason}
    subject = f"mandate/{found['holder']}"
    ids = {"causation_id": request.mandate_id}
    return await publish_as_caller(ctx, "canon-mandate-revoked", request, subject, data, **ids)


class SetSilenceRequest(WriteRequest):
    matchers: dict[str, str] = Field(
        ..., min_length=1, description=f"field → glob, all must match; fields: {', '.join(SILENCE_FIELDS)}"
    )
    until: dt.datetime = Field(..., description="when the silence ends (ISO 8601 with a time zone)")
    reason: str = Field(..., min_length=1, max_length=2000, description="why: shown beside the silence")
    starts_at: dt.datetime | None = Field(None, description="a maintenance window declared ahead; unset: now")

    @field_validator("matchers")
    @classmethod
    def _known_fields(cls, matchers: dict[str, str]) -> dict[str, str]:
        unknown = sorted(set(matchers) - set(SILENCE_FIELDS))
        if unknown:
            raise ValueError(f"no field {unknown[0]!r} to match; use {', '.join(SILENCE_FIELDS)}")
        return matchers


async def set_silence(ctx: HubContext, request: SetSilenceRequest) -> dict[str, Any]:
    now = dt.datetime.now(dt.UTC)
    if request.until.tzinfo is None:
        raise ContractError("invalid_request", "until: give a time zone, e.g. 2026-12-07T18:00:00Z")
    if request.until <= max(now, request.starts_at or now):
        raise ContractError("invalid_request", f"until: {request.until.isoformat()} has passed or precedes starts_at")
    data = request.model_dump(mode="json", include={"matchers", "until", "reason", "starts_at"})
    silence_id = new_event_id()
    return await publish_as_caller(
        ctx, "notification-silence-set", request, f"silence/{silence_id}", data, event_id=silence_id
    )


def write_operations() -> list[Operation]:
    return [
        Operation(
            "revoke_mandate",
            RevokeMandateRequest,
            revoke_mandate,
            "end a mandate: refused from the next call",
            writes=True,
        ),
        Operation("set_silence", SetSilenceRequest, set_silence, "hold notifications back until a time", writes=True),
        *approval_writes(),
    ]
