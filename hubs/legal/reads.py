"""legal-hub's read operations: its registers, the GDPR report and what fin's and canon's couplings ask."""

from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa
from pydantic import Field
from sqlalchemy.ext.asyncio import AsyncConnection

from vsmesh.hubs.contract import ContractRequest, HubContext, Operation
from vsmesh.hubs.legal import report
from vsmesh.hubs.legal.tables import agents_seen, vendor_spend, vendors
from vsmesh.projectors.rebuild.copies import read_build_info


def _today(as_of: dt.date | None) -> dt.date:
    return as_of or dt.datetime.now(dt.UTC).date()


async def domain_summary(conn: AsyncConnection, now: dt.datetime | None = None) -> dict[str, Any]:
    """How many vendors, activities and AI systems are recorded, and the report's gaps."""
    found = await report.gdpr_report(conn, (now or dt.datetime.now(dt.UTC)).date())
    return {
        "hub": "legal-hub",
        "as_of": found["as_of"],
        "vendors": len(found["vendors"]),
        "processing_activities": len(found["processing"]),
        "ai_systems": len(found["ai_systems"]),
        "gap_count": found["gap_count"],
        "gaps": [{k: g[k] for k in ("kind", "about", "message")} for g in found["gaps"]],
    }


class DayRequest(ContractRequest):
    as_of: dt.date | None = Field(None, description="judge review dates on this day; default today (UTC)")


async def _day(ctx: HubContext, conn: AsyncConnection, as_of: dt.date | None) -> dt.date:
    """The day dates are judged on: the request's, else a point-in-time copy's last moment, else today."""
    if as_of is None and ctx.point_in_time is not None:
        info = await read_build_info(conn, ctx.schema)
        if info is not None:
            return (info.until.time or info.finished_at or info.started_at).date()
    return _today(as_of)


async def get_domain_summary(ctx: HubContext, request: DayRequest) -> dict[str, Any]:
    async with ctx.read() as conn:
        day = await _day(ctx, conn, request.as_of)
        return await domain_summary(conn, dt.datetime.combine(day, dt.time(), dt.UTC))


async def get_gdpr_report(ctx: HubContext, request: DayRequest) -> dict[str, Any]:
    """The Art. 30 record and its gaps; with point_in_time, as the copy's record said on the copy's day."""
    async with ctx.read() as conn:
        return await report.gdpr_report(conn, await _day(ctx, conn, request.as_of))


class ListServicesRequest(ContractRequest):
    personal_data: bool | None = Field(None, description="only vendors that do (or do not) process personal data")


async def list_services(ctx: HubContext, request: ListServicesRequest) -> dict[str, Any]:
    """The vendor register (third-party services and tools), DPAs applied."""
    async with ctx.read() as conn:
        found = (await report.register(conn))["vendors"]
    if request.personal_data is not None:
        found = [v for v in found if bool(v["personal_data"]) == request.personal_data]
    return {"services": found}


class VendorRequest(ContractRequest):
    vendor: str = Field(min_length=1)


async def vendor_known(ctx: HubContext, request: VendorRequest) -> dict[str, Any]:
    """Whether the register knows the vendor by slug or alias (case-insensitive), for fin's coupling."""
    name = request.vendor.lower()
    v = vendors.c
    async with ctx.read() as conn:
        rows = (await conn.execute(sa.select(v.vendor, v.aliases))).all()
        spent = (await conn.execute(sa.select(vendor_spend.c.vendor).where(vendor_spend.c.vendor == name))).first()
    known = any(slug == name or name in (aliases or []) for slug, aliases in rows)
    return {"known": known, "spend_seen": spent is not None}


class AgentRequest(ContractRequest):
    agent: str = Field(min_length=1, description="the agent's actor id")  # not `actor`: the gateway sets that
    hub: str = Field(min_length=1)


async def agent_seen(ctx: HubContext, request: AgentRequest) -> dict[str, Any]:
    a = agents_seen.c
    async with ctx.read() as conn:
        found = (await conn.execute(sa.select(a.actor).where(a.actor == request.agent, a.hub == request.hub))).first()
    return {"seen": found is not None}


class KnownEventsRequest(ContractRequest):
    ids: list[str] = Field(..., max_length=5000)


async def known_events(ctx: HubContext, request: KnownEventsRequest) -> dict[str, Any]:
    async with ctx.read() as conn:
        found = (await conn.execute(sa.select(vendors.c.event_id).where(vendors.c.event_id.in_(request.ids)))).scalars()
        return {"known": sorted(found)}


def read_operations() -> list[Operation]:
    return [
        Operation("get_domain_summary", DayRequest, get_domain_summary, "registers recorded and the GDPR gaps"),
        Operation("get_gdpr_report", DayRequest, get_gdpr_report, "the Art. 30 record and its gaps, with their events"),
        Operation("list_services", ListServicesRequest, list_services, "the vendor register (TPSC)"),
        Operation("vendor_known", VendorRequest, vendor_known, "whether the register knows a vendor"),
        Operation("agent_seen", AgentRequest, agent_seen, "whether legal has seen an agent act on a hub"),
        Operation("known_events", KnownEventsRequest, known_events, "which vendor records the hub already has"),
    ]
