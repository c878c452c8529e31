"""dev-hub's write operations (each an MCP tool under a mandate, stored with the caller's verified identity):
deployments, decisions, blockers and repos.

Each validates, publishes one dev event as the caller and returns {id, stream, seq}. A follow-up (a
deployment's end naming its start, a decision superseding another, a blocker cleared) is checked against what
the hub has applied, so a caller that just published passes `wait_for_seq`.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from vsmesh.errors import ContractError
from vsmesh.hubs.contract import HubContext, Operation
from vsmesh.hubs.core.reads import Severity
from vsmesh.hubs.core.writes import Text, WriteRequest, known, publish_as_caller, record_event_operation
from vsmesh.hubs.dev.tables import blockers, decisions, deployments

Name = Field(min_length=1, max_length=200, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$")

# What each deployment status publishes, and which of the request's fields its event carries.
DEPLOYMENT_EVENTS: dict[str, tuple[str, set[str]]] = {
    "started": ("dev-deployment-started", {"service", "version", "environment", "repo", "commit", "pipeline_url"}),
    "completed": (
        "dev-deployment-completed",
        {"service", "version", "environment", "deployment_id", "repo", "commit", "duration_s", "rollback_path"},
    ),
    "failed": ("dev-deployment-failed", {"service", "version", "environment", "deployment_id", "error"}),
    "rolled-back": ("dev-deployment-rolled-back", {"service", "environment", "deployment_id", "reason"}),
}


class RecordDeploymentRequest(WriteRequest):
    service: str = Name
    version: str = Field(min_length=1, max_length=200, description="the version deployed (rolled back: from)")
    status: Literal["started", "completed", "failed", "rolled-back"] = "completed"
    environment: str | None = None
    deployment_id: str | None = Field(None, description="the id of its `started` event, for an end reported after it")
    repo: str | None = None
    commit: str | None = None
    pipeline_url: str | None = None
    duration_s: float | None = Field(None, ge=0)
    rollback_path: str | None = Field(None, description="how to undo it (completed)")
    error: str | None = Field(None, description="what went wrong (failed)")
    rolled_back_to: str | None = Field(None, description="the version running again (rolled-back)")
    reason: str | None = Field(None, description="why it was rolled back")


async def record_deployment(ctx: HubContext, request: RecordDeploymentRequest) -> dict[str, Any]:
    """One deployment event by status; an end naming its start must name a deployment the hub knows."""
    event_type, fields = DEPLOYMENT_EVENTS[request.status]
    if request.deployment_id and request.status != "started":
        await known(ctx, deployments.c.deployment_id, request.deployment_id)
    data = request.model_dump(include=fields)
    if request.status == "rolled-back":
        data |= {"from_version": request.version, "to_version": request.rolled_back_to}
    return await publish_as_caller(ctx, event_type, request, f"service/{request.service}", data)


class RecordDecisionRequest(WriteRequest):
    title: str = Text
    decision: str = Text
    rationale: str | None = None
    alternatives: list[str] = Field([], description="what else was considered")
    status: Literal["proposed", "accepted", "rejected"] = "accepted"
    supersedes: str | None = Field(None, description="the id of the decision this one replaces")
    entity: str | None = Field(None, description="what it decides about, e.g. repo/hub-core or workplan/X")


async def record_decision(ctx: HubContext, request: RecordDecisionRequest) -> dict[str, Any]:
    if request.supersedes:
        await known(ctx, decisions.c.decision_id, request.supersedes)
    data = request.model_dump(include={"title", "decision", "rationale", "alternatives", "status", "supersedes"})
    return await publish_as_caller(ctx, "dev-decision-recorded", request, request.entity, data)


class RaiseBlockerRequest(WriteRequest):
    title: str = Text
    severity: Severity = "medium"
    blocking: list[str] = Field([], description="the workstreams, tasks or repos held up, e.g. repo/hub-core")
    description: str | None = None
    cause_event_id: str | None = Field(None, description="the event that caused it, e.g. an ops incident")
    entity: str | None = Field(None, description="filed under this entity; default: the first it blocks")


async def raise_blocker(ctx: HubContext, request: RaiseBlockerRequest) -> dict[str, Any]:
    data = request.model_dump(include={"title", "severity", "blocking", "description", "cause_event_id"})
    entity = request.entity or (request.blocking[0] if request.blocking else None)
    ids = {"causation_id": request.cause_event_id} if request.cause_event_id else {}
    return await publish_as_caller(ctx, "dev-blocker-raised", request, entity, data, **ids)


class ClearBlockerRequest(WriteRequest):
    blocker_id: str = Field(min_length=1, description="the id of the event that raised it")
    resolution: str | None = Field(None, description="what cleared it")


async def clear_blocker(ctx: HubContext, request: ClearBlockerRequest) -> dict[str, Any]:
    found = await known(ctx, blockers.c.blocker_id, request.blocker_id)
    if found["status"] == "cleared":
        raise ContractError("cleared", f"blocker {request.blocker_id} is already cleared; raise a new one")
    data = request.model_dump(include={"blocker_id", "resolution"})
    subject = found["blocking"][0] if found["blocking"] else None
    return await publish_as_caller(ctx, "dev-blocker-cleared", request, subject, data, causation_id=request.blocker_id)


class RegisterRepoRequest(WriteRequest):
    name: str = Name
    url: str | None = None
    domain: str | None = Field(None, description="the domain it belongs to")
    default_branch: str | None = None
    path: str | None = Field(None, description="a local checkout, where one matters")


async def register_repo(ctx: HubContext, request: RegisterRepoRequest) -> dict[str, Any]:
    data = request.model_dump(include={"name", "url", "domain", "default_branch", "path"})
    return await publish_as_caller(ctx, "dev-repo-registered", request, f"repo/{request.name}", data)


def write_operations() -> list[Operation]:
    return [
        Operation(
            "record_deployment",
            RecordDeploymentRequest,
            record_deployment,
            "record a deployment started, completed, failed or rolled back",
            writes=True,
        ),
        Operation("record_decision", RecordDecisionRequest, record_decision, "record a decision and why", writes=True),
        Operation("raise_blocker", RaiseBlockerRequest, raise_blocker, "say what holds work up", writes=True),
        Operation("clear_blocker", ClearBlockerRequest, clear_blocker, "say a blocker no longer holds", writes=True),
        Operation("register_repo", RegisterRepoRequest, register_repo, "bring a repository under dev-hub", writes=True),
        record_event_operation(),  # any other declared type, as `vsmesh publish` stores it
    ]
