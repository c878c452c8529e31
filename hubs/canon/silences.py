"""canon-hub's silences: a person holds notifications back for a while, with a reason, on the constitutional log.

A silence is matchers (field → glob over hub, type, entity, horizon, severity; all must match) until a time; one
starting later is a maintenance window declared ahead. The notifier (notify/) records what a silence held back
as suppressed, never drops it, and says when a silence's time ran out.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa
from pydantic import Field, field_validator

from vsmesh.errors import ContractError
from vsmesh.events.envelope import new_event_id
from vsmesh.events.schemas.notification import SILENCE_FIELDS
from vsmesh.hubs.canon.tables import silences
from vsmesh.hubs.contract import ContractRequest, HubContext, Operation
from vsmesh.hubs.core.queries import rows
from vsmesh.hubs.core.writes import WriteRequest, publish_as_caller


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


class SilencesRequest(ContractRequest):
    include_expired: bool = Field(False, description="also silences whose time ran out")


async def get_silences(ctx: HubContext, request: SilencesRequest) -> dict[str, Any]:
    """Silences in force or ahead (with `include_expired`, every one), the latest ending last."""
    s = silences.c
    query = sa.select(silences).where(s.matchers.is_not(None)).order_by(s.until.desc(), s.silence_id)
    if not request.include_expired:
        query = query.where(s.until > sa.func.now())
    async with ctx.read() as conn:
        return {"hub": ctx.hub, "silences": await rows(conn, query)}


def silence_operations() -> list[Operation]:
    return [
        Operation("set_silence", SetSilenceRequest, set_silence, "hold notifications back until a time", writes=True),
        Operation("get_silences", SilencesRequest, get_silences, "silences in force or ahead, who set them, why"),
    ]
