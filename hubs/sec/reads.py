"""sec-hub's read operations, judged at the request's `now`: findings, exceptions, secrets."""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

import sqlalchemy as sa
from pydantic import Field
from sqlalchemy.ext.asyncio import AsyncConnection

from vsmesh.clock import at_or_now
from vsmesh.hubs.contract import ContractRequest, HubContext, Operation
from vsmesh.hubs.sec import queries
from vsmesh.hubs.sec.tables import finding_sightings, findings


async def domain_summary(conn: AsyncConnection, now: dt.datetime | None = None) -> dict[str, Any]:
    """Open findings by severity and service, exceptions expiring within 14 days, overdue rotations."""
    return await queries.summary(conn, at_or_now(now))


class ClockedRequest(ContractRequest):
    now: dt.datetime | None = Field(None, description="judge expiries and rotations at this time; default: now")


class FindingsRequest(ClockedRequest):
    service: str | None = None
    source: Literal["trivy", "policy-report", "manual"] | None = None
    status: Literal["open", "accepted", "fixed"] | None = None


class KnownEventsRequest(ContractRequest):
    ids: list[str] = Field(..., max_length=5000, description="finding event ids")


async def get_domain_summary(ctx: HubContext, request: ClockedRequest) -> dict[str, Any]:
    async with ctx.read() as conn:
        return await domain_summary(conn, request.now)


async def get_findings(ctx: HubContext, request: FindingsRequest) -> dict[str, Any]:
    filters = request.model_dump(include={"service", "source", "status"})
    async with ctx.read() as conn:
        return {"findings": await queries.finding_rows(conn, at_or_now(request.now), **filters)}


async def get_exceptions(ctx: HubContext, request: ClockedRequest) -> dict[str, Any]:
    async with ctx.read() as conn:
        return {"exceptions": await queries.exception_rows(conn, at_or_now(request.now))}


async def get_secrets(ctx: HubContext, request: ClockedRequest) -> dict[str, Any]:
    async with ctx.read() as conn:
        return {"secrets": await queries.secret_rows(conn, at_or_now(request.now))}


async def known_events(ctx: HubContext, request: KnownEventsRequest) -> dict[str, Any]:
    """Which of these ids the hub has applied (reports and fixes): a re-import publishes only what is new."""
    found: set[str] = set()
    async with ctx.read() as conn:
        for column in (finding_sightings.c.event_id, findings.c.fixed_event_id):
            found.update((await conn.execute(sa.select(column).where(column.in_(request.ids)))).scalars())
    return {"known": sorted(found)}


def read_operations() -> list[Operation]:
    return [
        Operation("get_domain_summary", ClockedRequest, get_domain_summary, "open findings, exceptions, rotations"),
        Operation("get_findings", FindingsRequest, get_findings, "findings: open, accepted (a live exception), fixed"),
        Operation("get_exceptions", ClockedRequest, get_exceptions, "the exception register, live or expired"),
        Operation("get_secrets", ClockedRequest, get_secrets, "secret sets, last rotation, due date, overdue"),
        Operation("known_events", KnownEventsRequest, known_events, "which finding events the hub already has"),
    ]
