"""ops-hub's writes about the running estate: a change made to it (with the way back), a readiness gate's status,
and operational debt (what runs differs from what its repo declares) recorded and closed.

Each publishes one ops event as the caller and returns {id, stream, seq}; closing a debt is checked against
what the hub has applied, so a caller that just recorded it passes `wait_for_seq`.
"""

from __future__ import annotations

from typing import Any, Literal

import sqlalchemy as sa
from pydantic import Field

from vsmesh.errors import ContractError, NotFound
from vsmesh.hubs.contract import HubContext, Operation
from vsmesh.hubs.core import queries
from vsmesh.hubs.core.attention import Entity
from vsmesh.hubs.core.reads import Severity
from vsmesh.hubs.core.writes import Text, WriteRequest, publish_as_caller
from vsmesh.hubs.ops.tables import debts

GateName = Field(min_length=1, max_length=200, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
DRIFT = "drift"  # the debts row's category ops-drift-detected writes (fold_evidence.py)


class RecordChangeRequest(WriteRequest):
    entity: str = Entity
    summary: str = Text
    rollback_path: str = Field(
        min_length=1, max_length=2_000, description="how to undo it (a command, a revert, a runbook); 'none' says so"
    )
    change_kind: str | None = Field(None, description="deployment, config, infrastructure, …")
    environment: str | None = None
    version: str | None = None
    reference: str | None = Field(None, description="what it came from, e.g. a pull request or dev deployment id")


async def record_change(ctx: HubContext, request: RecordChangeRequest) -> dict[str, Any]:
    fields = {"summary", "rollback_path", "change_kind", "environment", "version", "reference"}
    return await publish_as_caller(
        ctx, "ops-change-recorded", request, request.entity, request.model_dump(include=fields)
    )


class UpdateGateRequest(WriteRequest):
    gate: str = GateName
    status: Literal["green", "amber", "red"]
    migration_wave: str | None = Field(None, description="the wave the gate belongs to")
    evidence_event_ids: list[str] = Field([], description="the events that prove the status")
    evidence_required: str | None = Field(None, description="what must be shown for green")
    owner_repo: str | None = None
    note: str | None = None


async def update_gate(ctx: HubContext, request: UpdateGateRequest) -> dict[str, Any]:
    fields = {"gate", "status", "migration_wave", "evidence_event_ids", "evidence_required", "owner_repo", "note"}
    data = request.model_dump(include=fields)
    return await publish_as_caller(ctx, "ops-readiness-gate-updated", request, f"readiness-gate/{request.gate}", data)


class RecordDebtRequest(WriteRequest):
    entity: str = Entity
    summary: str = Text
    desired: Any = Field(description="what the owning repo declares")
    actual: Any = Field(description="what runs")
    source_of_truth: str | None = Field(None, description="the repo path that declares the desired state")
    severity: Severity = "medium"


async def record_debt(ctx: HubContext, request: RecordDebtRequest) -> dict[str, Any]:
    if request.desired == request.actual:
        raise ContractError("no_debt", "desired and actual are the same: there is no debt to record")
    data = request.model_dump(include={"summary", "desired", "actual", "source_of_truth", "severity"})
    return await publish_as_caller(ctx, "ops-drift-detected", request, request.entity, data)


class CloseDebtRequest(WriteRequest):
    entity: str = Entity
    summary: str = Text  # what brought it in line


async def close_debt(ctx: HubContext, request: CloseDebtRequest) -> dict[str, Any]:
    """What runs matches its declaration again: the drift event that says so (desired == actual, resolved)."""
    async with ctx.read() as conn:
        query = sa.select(debts).where(debts.c.entity == request.entity, debts.c.category == DRIFT)
        found = await queries.one(conn, query)
    if found is None or found["desired"] == found["actual"]:
        raise NotFound(f"ops-hub has no open debt on {request.entity}; get_inventory shows an entity's drift")
    data = {
        "summary": request.summary,
        "desired": found["desired"],
        "actual": found["desired"],
        "source_of_truth": found["source_of_truth"],
        "severity": found["severity"],
        "resolved": True,
    }
    return await publish_as_caller(
        ctx, "ops-drift-detected", request, request.entity, data, causation_id=found["event_id"]
    )


def estate_operations() -> list[Operation]:
    return [
        Operation(
            "record_change",
            RecordChangeRequest,
            record_change,
            "record a change made, with its rollback path",
            writes=True,
        ),
        Operation("update_gate", UpdateGateRequest, update_gate, "set a readiness gate's status", writes=True),
        Operation("record_debt", RecordDebtRequest, record_debt, "record drift from what a repo declares", writes=True),
        Operation(
            "close_debt", CloseDebtRequest, close_debt, "say an entity matches its declaration again", writes=True
        ),
    ]
