"""ops-hub's write operations: incidents, services, executed runbook steps and access-path checks.

Each validates, publishes one ops event as the caller and returns {id, stream, seq}; follow-ups (an
incident's update, a service's update) are checked against what the hub has applied, so a caller that
just published passes `wait_for_seq`.
"""

from __future__ import annotations

from typing import Any, Literal

import sqlalchemy as sa
from pydantic import Field

from vsmesh.errors import ContractError, NotFound
from vsmesh.hubs.contract import HubContext, Operation
from vsmesh.hubs.core import queries
from vsmesh.hubs.core.reads import Severity
from vsmesh.hubs.core.writes import WriteRequest, publish_as_caller, record_event_operation
from vsmesh.hubs.ops.estate_writes import estate_operations
from vsmesh.hubs.ops.tables import incidents, inventory

Name = Field(min_length=1, max_length=200, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
IncidentStatus = Literal["open", "investigating", "mitigated", "resolved"]


class OpenIncidentRequest(WriteRequest):
    title: str = Field(min_length=1, max_length=500)
    severity: Severity = "medium"
    description: str | None = None
    affected: list[str] = Field([], description="subjects of the affected entities, e.g. service/gitea")
    commander: str | None = Field(None, description="who leads the response")
    entity: str | None = Field(None, description="the entity the incident is filed under; default: the first affected")


async def open_incident(ctx: HubContext, request: OpenIncidentRequest) -> dict[str, Any]:
    data = request.model_dump(include={"title", "severity", "description", "affected", "commander"})
    entity = request.entity or (request.affected[0] if request.affected else None)
    return await publish_as_caller(ctx, "ops-incident-opened", request, entity, data)


async def _incident(ctx: HubContext, incident_id: str) -> dict[str, Any]:
    async with ctx.read() as conn:
        found = await queries.one(conn, sa.select(incidents).where(incidents.c.incident_id == incident_id))
    if found is None:
        raise NotFound(f"ops-hub has no incident {incident_id}; get_incidents lists them")
    if found["status"] == "resolved":
        raise ContractError("resolved", f"incident {incident_id} is resolved; open a new one")
    return found


class UpdateIncidentRequest(WriteRequest):
    incident_id: str = Field(min_length=1, description="the id of the event that opened it")
    status: Literal["open", "investigating", "mitigated"] | None = None
    severity: Severity | None = None
    note: str | None = None
    affected: list[str] = []


async def update_incident(ctx: HubContext, request: UpdateIncidentRequest) -> dict[str, Any]:
    found = await _incident(ctx, request.incident_id)
    data = request.model_dump(include={"incident_id", "status", "severity", "note", "affected"})
    entity = found["entity"]
    return await publish_as_caller(ctx, "ops-incident-updated", request, entity, data, causation_id=request.incident_id)


class ResolveIncidentRequest(WriteRequest):
    incident_id: str = Field(min_length=1, description="the id of the event that opened it")
    resolution: str | None = Field(None, description="what ended it")
    root_cause: str | None = None
    postmortem: str | None = Field(None, description="a link to the postmortem")


async def resolve_incident(ctx: HubContext, request: ResolveIncidentRequest) -> dict[str, Any]:
    found = await _incident(ctx, request.incident_id)
    data = request.model_dump(include={"incident_id", "resolution", "root_cause", "postmortem"})
    entity = found["entity"]
    ids = {"causation_id": request.incident_id}
    return await publish_as_caller(ctx, "ops-incident-resolved", request, entity, data, **ids)


class RegisterServiceRequest(WriteRequest):
    name: str = Name
    environment: str | None = None
    owner: str | None = Field(None, description="the team or repo that owns it")
    host: str | None = None
    purpose: str | None = None
    depends_on: list[str] = []
    attributes: dict[str, Any] = Field({}, description="anything else worth knowing: namespace, helm_release, …")


async def register_service(ctx: HubContext, request: RegisterServiceRequest) -> dict[str, Any]:
    attributes = {**request.attributes, "host": request.host, "purpose": request.purpose}
    if request.depends_on:
        attributes["depends_on"] = request.depends_on
    data = {
        "kind": "service",
        "name": request.name,
        "environment": request.environment,
        "owner": request.owner,
        "attributes": {k: v for k, v in attributes.items() if v is not None},
    }
    return await publish_as_caller(ctx, "ops-inventory-registered", request, f"service/{request.name}", data)


class UpdateServiceRequest(WriteRequest):
    name: str = Name
    environment: str | None = None
    owner: str | None = None
    attributes: dict[str, Any] = Field({}, description="merged into the service's attributes")
    removed_attributes: list[str] = []


async def update_service(ctx: HubContext, request: UpdateServiceRequest) -> dict[str, Any]:
    entity = f"service/{request.name}"
    async with ctx.read() as conn:
        found = await queries.one(conn, sa.select(inventory.c.entity).where(inventory.c.entity == entity))
    if found is None:
        raise NotFound(f"ops-hub knows no service {request.name!r}; register_service it first")
    data = request.model_dump(include={"environment", "owner", "attributes", "removed_attributes"})
    return await publish_as_caller(ctx, "ops-inventory-updated", request, entity, data)


class RunbookStepRequest(WriteRequest):
    runbook: str = Name
    outcome: Literal["succeeded", "failed", "aborted"]
    steps: list[str] = Field([], description="the steps run, in order")
    trigger: str | None = Field(None, description="why it ran, e.g. an incident id")
    duration_s: float | None = Field(None, ge=0)
    detail: str | None = None


async def record_runbook_step(ctx: HubContext, request: RunbookStepRequest) -> dict[str, Any]:
    data = request.model_dump(include={"runbook", "outcome", "steps", "trigger", "duration_s", "detail"})
    return await publish_as_caller(ctx, "ops-runbook-executed", request, f"runbook/{request.runbook}", data)


class VerifyAccessPathRequest(WriteRequest):
    name: str = Name
    reachable: bool = Field(description="whether the path worked end to end (login, route, key)")
    method: str | None = Field(None, description="how it was tried, e.g. `ssh -o BatchMode=yes`")
    target: str | None = None
    detail: str | None = None


async def verify_access_path(ctx: HubContext, request: VerifyAccessPathRequest) -> dict[str, Any]:
    """An access path's check is health evidence on `access-path/NAME`: green when it worked, red when not."""
    observations = request.model_dump(include={"method", "target", "detail"}, exclude_none=True)
    data = {"status": "green" if request.reachable else "red", "observations": observations}
    return await publish_as_caller(ctx, "ops-health-checked", request, f"access-path/{request.name}", data)


def write_operations() -> list[Operation]:
    """ops-hub's own writes (changes, gates and debt: estate_writes.py)."""
    return [
        Operation(
            "open_incident", OpenIncidentRequest, open_incident, "open an incident: something is broken", writes=True
        ),
        Operation(
            "update_incident",
            UpdateIncidentRequest,
            update_incident,
            "move an open incident on, with a note",
            writes=True,
        ),
        Operation(
            "resolve_incident",
            ResolveIncidentRequest,
            resolve_incident,
            "close an incident with what fixed it",
            writes=True,
        ),
        Operation(
            "register_service", RegisterServiceRequest, register_service, "add a service to the inventory", writes=True
        ),
        Operation(
            "update_service",
            UpdateServiceRequest,
            update_service,
            "change a known service's owner/attributes",
            writes=True,
        ),
        Operation(
            "record_runbook_step", RunbookStepRequest, record_runbook_step, "record runbook steps you ran", writes=True
        ),
        Operation(
            "verify_access_path",
            VerifyAccessPathRequest,
            verify_access_path,
            "record whether a path works",
            writes=True,
        ),
        *estate_operations(),
        record_event_operation(),  # any other declared type, as `vsmesh publish` stores it
    ]
