"""legal-hub's write operations: a vendor, a DPA, a processing activity or an AI system recorded, each one event
published as the caller."""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from pydantic import Field

from vsmesh.hubs.contract import ContractRequest, HubContext, Operation
from vsmesh.hubs.core.writes import WriteRequest, publish_as_caller
from vsmesh.hubs.legal.tpsc import TpscTool

Slug = Field(min_length=1, max_length=200, pattern=r"^[a-z0-9][a-z0-9-]*$")


class IngestToolRequest(WriteRequest):
    tool: TpscTool


async def ingest_tpsc_tool(ctx: HubContext, request: IngestToolRequest) -> dict[str, Any]:
    """Record one vendor (a TPSC row); the event id derives from its content, so the same row is stored once."""
    t = request.tool
    return await publish_as_caller(
        ctx, "legal-vendor-recorded", request, f"vendor/{t.vendor}", t.data(), event_id=t.content_id()
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


def write_operations() -> list[Operation]:
    return [
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
    ]
