"""legal-hub's answers, read from its read model; its writes publish one event as the caller."""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

import sqlalchemy as sa
from pydantic import Field
from sqlalchemy.ext.asyncio import AsyncConnection

from vsmesh.hubs.contract import ContractRequest, HubContext, Operation
from vsmesh.hubs.core.operations import with_core
from vsmesh.hubs.core.writes import WriteRequest, publish_as_caller
from vsmesh.hubs.legal import report
from vsmesh.hubs.legal.tables import agents_seen, vendor_spend, vendors
from vsmesh.hubs.legal.tpsc import TpscTool
from vsmesh.projectors.rebuild.copies import read_build_info

Slug = Field(min_length=1, max_length=200, pattern=r"^[a-z0-9][a-z0-9-]*$")


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


class IngestToolRequest(WriteRequest):
    tool: TpscTool


async def ingest_tpsc_tool(ctx: HubContext, request: IngestToolRequest) -> dict[str, Any]:
    """Record one vendor (a TPSC row); the event id derives from its content, so the same row is stored once."""
    t = request.tool
    return await publish_as_caller(
        ctx, "legal-vendor-recorded", request, f"vendor/{t.vendor}", t.data(), event_id=t.event_id()
    )


class RegisterServiceRequest(WriteRequest, TpscTool):
    """`ingest_tpsc_tool` under the name the state-hub's tools gave it, with the vendor fields at the top level
    instead of under `tool`."""


async def register_service(ctx: HubContext, request: RegisterServiceRequest) -> dict[str, Any]:
    tool = TpscTool.model_validate(request.model_dump(include=set(TpscTool.model_fields)))
    caller = request.model_dump(include=set(WriteRequest.model_fields) - set(ContractRequest.model_fields))
    wrapped = IngestToolRequest(tool=tool, **caller)
    return await ingest_tpsc_tool(ctx, wrapped)


class RecordDpaRequest(WriteRequest):
    vendor: str = Slug
    signed_on: dt.date
    document: str | None = None


async def record_dpa(ctx: HubContext, request: RecordDpaRequest) -> dict[str, Any]:
    data = {k: v for k, v in request.model_dump(mode="json", include={"vendor", "signed_on", "document"}).items() if v}
    return await publish_as_caller(ctx, "legal-dpa-recorded", request, f"vendor/{request.vendor}", data)


class RecordProcessingRequest(WriteRequest):
    activity: str = Slug
    purpose: str = Field(min_length=1)
    legal_basis: Literal[
        "consent", "contract", "legal-obligation", "vital-interests", "public-task", "legitimate-interests"
    ]
    data_subjects: list[str] = []
    data_categories: list[str] = []
    recipients: list[str] = []
    retention: str | None = None
    toms: list[str] = []
    services: list[str] = []


async def record_processing(ctx: HubContext, request: RecordProcessingRequest) -> dict[str, Any]:
    fields = set(RecordProcessingRequest.model_fields) - set(WriteRequest.model_fields)
    data = {k: v for k, v in request.model_dump(mode="json", include=fields).items() if v not in (None, [])}
    return await publish_as_caller(ctx, "legal-processing-recorded", request, f"processing/{request.activity}", data)


class RegisterAiSystemRequest(WriteRequest):
    ai_actor: str = Field(min_length=1, max_length=200, description="the agent's actor id as events name it")
    owner: str = Field(min_length=1)
    purpose: str = Field(min_length=1)
    risk_class: Literal["minimal", "limited", "high", "unacceptable", "gpai"] = "minimal"
    human_oversight: str | None = "every event it publishes can be reverted by a person (vsmesh revert)"


async def register_ai_system(ctx: HubContext, request: RegisterAiSystemRequest) -> dict[str, Any]:
    data = {"actor": request.ai_actor, "owner": request.owner, "purpose": request.purpose,
            "risk_class": request.risk_class, "human_oversight": request.human_oversight}  # fmt: skip
    return await publish_as_caller(ctx, "legal-ai-system-registered", request, f"ai-system/{request.ai_actor}", data)


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


def operations() -> list[Operation]:
    """legal-hub's contract: the core's operations plus its own (its own win on a shared name)."""
    own = [
        Operation("get_domain_summary", DayRequest, get_domain_summary, "registers recorded and the GDPR gaps"),
        Operation("get_gdpr_report", DayRequest, get_gdpr_report, "the Art. 30 record and its gaps, with their events"),
        Operation("list_services", ListServicesRequest, list_services, "the vendor register (TPSC)"),
        Operation(
            "register_service", RegisterServiceRequest, register_service, "record a vendor (TPSC row)", writes=True
        ),
        Operation(
            "ingest_tpsc_tool",
            IngestToolRequest,
            ingest_tpsc_tool,
            "record a vendor from a TPSC tool entry",
            writes=True,
        ),
        Operation("record_dpa", RecordDpaRequest, record_dpa, "a DPA with a vendor was signed", writes=True),
        Operation(
            "record_processing", RecordProcessingRequest, record_processing, "record an Art. 30 activity", writes=True
        ),
        Operation(
            "register_ai_system",
            RegisterAiSystemRequest,
            register_ai_system,
            "enter an agent in the AI register",
            writes=True,
        ),
        Operation("vendor_known", VendorRequest, vendor_known, "whether the register knows a vendor"),
        Operation("agent_seen", AgentRequest, agent_seen, "whether legal has seen an agent act on a hub"),
        Operation("known_events", KnownEventsRequest, known_events, "which vendor records the hub already has"),
    ]
    return with_core(own)
