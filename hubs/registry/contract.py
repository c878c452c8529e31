"""Contracts: the registry (`vsmesh.registry.*`) and a manifest hub's generic operations (`vsmesh.{hub}.*`)."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from pydantic import Field

from vsmesh.errors import NotFound
from vsmesh.hubs.contract import ContractRequest, HubContext, Operation
from vsmesh.hubs.core.operations import with_core
from vsmesh.hubs.core.queries import filtered, one, rows
from vsmesh.hubs.core.writes import record_event_operation
from vsmesh.hubs.registry import tables as t
from vsmesh.hubs.registry.queries import registry_connection

# --- the registry


class ListHubsRequest(ContractRequest):
    pass


class HubRequest(ContractRequest):
    hub: str = Field(min_length=1, description="the hub's slug, e.g. ops-hub")


def _manifest_view(m: dict[str, Any] | None) -> dict[str, Any] | None:
    if m is None:
        return None
    keys = ("manifest_id", "revision", "status", "reason", "horizon", "content_hash", "activated_at", "actor")
    vocab = ("widget_types", "event_types", "annotation_categories", "policy_scopes")
    return {**{k: m[k] for k in keys}, "vocabulary": {k: m[k] or [] for k in vocab}}


async def list_hubs(ctx: HubContext, request: ListHubsRequest) -> dict[str, Any]:
    async with ctx.read() as conn:
        found = await rows(conn, sa.select(t.hubs).order_by(t.hubs.c.slug))
        active = {
            m["slug"]: m for m in await rows(conn, sa.select(t.manifests).where(t.manifests.c.status == "active"))
        }
        counts = dict((await conn.execute(sa.select(t.widgets.c.hub, sa.func.count()).group_by(t.widgets.c.hub))).all())
    return {
        "hubs": [
            {**h, "active_manifest": _manifest_view(active.get(h["slug"])), "widgets": counts.get(h["slug"], 0)}
            for h in found
        ]
    }


async def get_hub(ctx: HubContext, request: HubRequest) -> dict[str, Any]:
    async with ctx.read() as conn:
        found = await one(conn, sa.select(t.hubs).where(t.hubs.c.slug == request.hub))
        versions = await rows(
            conn, sa.select(t.manifests).where(t.manifests.c.slug == request.hub).order_by(t.manifests.c.seq)
        )
        widgets = await rows(
            conn, sa.select(t.widgets).where(t.widgets.c.hub == request.hub).order_by(t.widgets.c.slug)
        )
    if found is None and not versions:
        raise NotFound(f"the registry knows no hub {request.hub!r}; see `vsmesh hub list`")
    active = next((m for m in versions if m["status"] == "active"), None)
    return {
        **(found or {"slug": request.hub}),
        "active_manifest": _manifest_view(active),
        "manifests": [_manifest_view(m) for m in versions],
        "widgets": widgets,
    }


def registry_operations() -> list[Operation]:
    return [
        Operation("list_hubs", ListHubsRequest, list_hubs, "every registered hub with its active manifest"),
        Operation("get_hub", HubRequest, get_hub, "one hub: identity, manifest versions, vocabulary, widgets"),
    ]


# --- a manifest hub


class WidgetsRequest(ContractRequest):
    widget_type: str | None = None


_WIDGET_COLUMNS = [c for c in t.widgets.c if c.name != "hub"]


async def get_widgets(ctx: HubContext, request: WidgetsRequest) -> dict[str, Any]:
    query = sa.select(*_WIDGET_COLUMNS).where(t.widgets.c.hub == ctx.hub).order_by(t.widgets.c.slug)
    query = filtered(t.widgets, query, widget_type=request.widget_type)
    async with registry_connection(ctx.engine) as conn:
        return {"hub": ctx.hub, "widgets": await rows(conn, query)}


class TimelineRequest(ContractRequest):
    widget: str | None = Field(None, description="a widget slug (its entity's events too), or any entity")
    type: str | None = None
    limit: int = Field(100, ge=1, le=1000)


async def get_timeline(ctx: HubContext, request: TimelineRequest) -> dict[str, Any]:
    tl = t.timeline
    query = sa.select(tl).order_by(tl.c.time.desc(), tl.c.event_id.desc()).limit(request.limit)
    query = filtered(tl, query, type=request.type)
    if request.widget:
        async with registry_connection(ctx.engine) as conn:
            w = await one(
                conn, sa.select(t.widgets).where(t.widgets.c.hub == ctx.hub, t.widgets.c.slug == request.widget)
            )
        names = {request.widget, *([w["entity"]] if w and w["entity"] else [])}
        query = query.where(tl.c.entity.in_(sorted(names)))
    async with ctx.read() as conn:
        return {"hub": ctx.hub, "events": await rows(conn, query)}


class VocabularyRequest(ContractRequest):
    pass


_TERMS = {
    "widget-type": "widget_types",
    "event-type": "event_types",
    "annotation-category": "annotation_categories",
    "policy-scope": "policy_scopes",
}


async def get_vocabulary(ctx: HubContext, request: VocabularyRequest) -> dict[str, Any]:
    m = t.manifests
    async with registry_connection(ctx.engine) as conn:
        active = await one(conn, sa.select(m).where(m.c.slug == ctx.hub, m.c.status == "active"))
    by_kind = {kind: sorted(active[column] or []) for kind, column in _TERMS.items() if active and active[column]}
    return {"hub": ctx.hub, "vocabulary": by_kind, "policy_scopes": by_kind.get("policy-scope", [])}


class SummaryRequest(ContractRequest):
    recent: int = Field(10, ge=0, le=200)


async def get_domain_summary(ctx: HubContext, request: SummaryRequest) -> dict[str, Any]:
    """Widgets, vocabulary and the latest declared events: what any manifest hub can say of itself."""
    widgets = (await get_widgets(ctx, WidgetsRequest()))["widgets"]
    timeline = (await get_timeline(ctx, TimelineRequest(limit=max(request.recent, 1))))["events"]
    vocabulary = (await get_vocabulary(ctx, VocabularyRequest()))["vocabulary"]
    return {
        "hub": ctx.hub,
        "widgets": [{"slug": w["slug"], "type": w.get("widget_type"), "title": w.get("title")} for w in widgets],
        "event_types": vocabulary.get("event-type", []),
        "recent_events": [
            {"time": e.get("time"), "type": e.get("type"), "entity": e.get("entity"), "actor": e.get("actor")}
            for e in timeline[: request.recent]
        ],
    }


def manifest_hub_operations() -> list[Operation]:
    own = [
        Operation("get_domain_summary", SummaryRequest, get_domain_summary, "widgets, vocabulary, latest events"),
        Operation("get_widgets", WidgetsRequest, get_widgets, "the hub's widgets"),
        Operation("get_timeline", TimelineRequest, get_timeline, "declared events, newest first, per widget"),
        Operation("get_vocabulary", VocabularyRequest, get_vocabulary, "the active manifest's terms"),
        record_event_operation(),
    ]
    return with_core(own)
