"""The core's writes of what asks for attention, on any hub: risks surfaced, mitigated and accepted, alerts raised
(acknowledged and resolved in writes.py), and annotations on a widget or an entity.

Categories (of an annotation, or a risk's) are the hub's annotation categories: another is refused before
anything is stored (hubs/vocabulary.py), naming the ones the hub declares.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from pydantic import Field, model_validator

from vsmesh.errors import ContractError, NotFound
from vsmesh.hubs.contract import HubContext, Operation
from vsmesh.hubs.core.categories import category_refusal
from vsmesh.hubs.core.reads import Severity
from vsmesh.hubs.core.tables import risks
from vsmesh.hubs.core.writes import Text, WriteRequest, follow_up, publish_as_caller
from vsmesh.hubs.registry import tables as registry
from vsmesh.hubs.registry.queries import registry_rows
from vsmesh.hubs.vocabulary import VOCABULARIES

ENTITY = {"min_length": 3, "max_length": 500, "pattern": r"^[a-z0-9][a-z0-9-]*/.+$"}
Entity = Field(description="what it is about: kind/name, e.g. service/gitea", **ENTITY)
Likelihood = Field(None, pattern="^(rare|unlikely|possible|likely|almost-certain)$")


def _check_category(ctx: HubContext, category: str | None) -> None:
    refused = category_refusal(ctx.hub, category, VOCABULARIES.categories(ctx.hub))
    if refused:
        raise ContractError("undeclared_category", refused)


class SurfaceRiskRequest(WriteRequest):
    title: str = Text
    entity: str = Entity
    severity: Severity = "medium"
    likelihood: str | None = Likelihood
    category: str | None = Field(None, description="one of the hub's annotation categories")
    description: str | None = None
    owner: str | None = Field(None, description="who answers for it")


async def surface_risk(ctx: HubContext, request: SurfaceRiskRequest) -> dict[str, Any]:
    _check_category(ctx, request.category)
    data = request.model_dump(include={"title", "severity", "likelihood", "category", "description", "owner"})
    return await publish_as_caller(ctx, "risk-surfaced", request, request.entity, data)


class MitigateRiskRequest(WriteRequest):
    risk_id: str = Field(min_length=1, description="the id of the event that surfaced it")
    mitigation: str = Text
    residual_severity: Severity | None = Field(None, description="how severe it still is")


async def mitigate_risk(ctx: HubContext, request: MitigateRiskRequest) -> dict[str, Any]:
    data = request.model_dump(include={"risk_id", "mitigation", "residual_severity"})
    return await follow_up(ctx, "risk-mitigated", request, risks.c.risk_id, data)


class AcceptRiskRequest(WriteRequest):
    risk_id: str = Field(min_length=1, description="the id of the event that surfaced it")
    rationale: str = Text
    review_by: dt.date | None = Field(None, description="when to look at it again")


async def accept_risk(ctx: HubContext, request: AcceptRiskRequest) -> dict[str, Any]:
    data = request.model_dump(mode="json", include={"risk_id", "rationale", "review_by"})
    return await follow_up(ctx, "risk-accepted", request, risks.c.risk_id, data)


class RaiseAlertRequest(WriteRequest):
    title: str = Text
    entity: str = Entity
    severity: Severity = "medium"
    description: str | None = None


async def raise_alert(ctx: HubContext, request: RaiseAlertRequest) -> dict[str, Any]:
    data = request.model_dump(include={"title", "severity", "description"})
    return await publish_as_caller(ctx, "alert-raised", request, request.entity, data)


class AnnotateRequest(WriteRequest):
    category: str = Field(min_length=1, description="one of the hub's annotation categories (get_vocabulary)")
    body: str = Text
    entity: str | None = Field(None, description="the entity annotated: kind/name, e.g. service/gitea", **ENTITY)
    widget: str | None = Field(None, min_length=1, max_length=200, description="a widget slug of this hub")
    target_event_id: str | None = Field(None, description="the event annotated, if not the whole entity")

    @model_validator(mode="after")
    def _one_target(self) -> AnnotateRequest:
        if (self.entity is None) == (self.widget is None):
            raise ValueError("name either entity (kind/name, e.g. service/gitea) or widget (a widget slug), not both")
        return self


async def _widget_entity(ctx: HubContext, slug: str) -> str:
    """The entity a widget of this hub shows (its slug when it names none); NotFound naming the hub's widgets."""
    w = registry.widgets.c
    mine = await registry_rows(ctx.engine, registry.widgets, w.hub == ctx.hub)
    found = next((row for row in mine if row["slug"] == slug), None)
    if found is None:
        known = ", ".join(sorted(row["slug"] for row in mine)) or "none (bootstrap its manifest)"
        raise NotFound(f"{ctx.hub} has no widget {slug!r}; its widgets: {known}")
    return found["entity"] or slug


async def annotate(ctx: HubContext, request: AnnotateRequest) -> dict[str, Any]:
    _check_category(ctx, request.category)
    data: dict[str, Any] = request.model_dump(include={"category", "body", "target_event_id"})
    subject = request.entity
    if request.widget is not None:
        subject = await _widget_entity(ctx, request.widget)
        data["metadata"] = {"widget": request.widget}
    return await publish_as_caller(ctx, "annotation-added", request, subject, data)


def attention_operations() -> list[Operation]:
    """Risks, alerts and annotations any hub's callers raise; each returns {id, stream, seq}."""
    return [
        Operation("surface_risk", SurfaceRiskRequest, surface_risk, "name a risk to an entity", writes=True),
        Operation("mitigate_risk", MitigateRiskRequest, mitigate_risk, "say what lowered a risk", writes=True),
        Operation("accept_risk", AcceptRiskRequest, accept_risk, "live with a risk, saying why", writes=True),
        Operation("raise_alert", RaiseAlertRequest, raise_alert, "ask for attention now", writes=True),
        Operation(
            "annotate", AnnotateRequest, annotate, "note on a widget or entity, in a declared category", writes=True
        ),
    ]
