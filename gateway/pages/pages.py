"""The now view: one page per time horizon, never mixed (each horizon's readers decide different things), each
from its own hub's contract.

A page names its horizon and the hubs it asks; it asks nothing else, so the operational page cannot show a
strategic number (ops-hub's service costs come from fin's events: that page leaves them out). Every cell
that is a judgement links to the events behind it (`/event/{id}`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from markupsafe import Markup
from nats.aio.client import Client

from vsmesh.bus.contract_client import ask
from vsmesh.bus.subjects import entity_from_token
from vsmesh.gateway.pages.hub_cards import hub_cards
from vsmesh.gateway.pages.when import when

Load = Callable[["Asker"], Awaitable[dict[str, Any]]]
Merge = Callable[[dict[str, Any]], dict[str, Any]]  # a page's data, changed by what a partial read found


@dataclass(frozen=True)
class Partial:
    """What a page re-reads after a batch it understands, instead of everything: `read` asks the contracts
    and returns how to change the page's data (applied to the data as it is when the answer arrives), or None
    when the answer shows the batch did more (read everything). `keys`: what it re-reads; two partials with
    a key in common run one after the other, so an older answer never lands after a newer one."""

    keys: frozenset[str]
    read: Callable[[Asker], Awaitable[Merge | None]]


Update = Callable[[frozenset[str]], Partial | None]  # from a batch's subjects; None: read everything


@dataclass(frozen=True)
class KeyedList:
    """A list in a part whose items a live page patches one by one (the grid's cells at 20 health checks a
    second: the whole grid of 200 services was ~60 KB per patch, for one changed cell). `macro` renders one
    item of `data[items]` as one element with the id `key(item)`, inside the element with id `container`
    (`macro`: the template file and the macro's name in it)."""

    part: str
    container: str
    items: str
    macro: tuple[str, str]
    key: Callable[[dict[str, Any]], str]


@dataclass(frozen=True)
class Asker:
    """Contract calls for one page render: every read names the same point-in-time copy, if any."""

    nc: Client
    as_of: str | None = None
    before: str | None = None  # the audit's page: actions before this time (`?before=`)

    async def __call__(self, hub: str, operation: str, **request: Any) -> Any:
        if self.as_of:
            request["point_in_time"] = self.as_of
        return await ask(self.nc, hub, operation, request, timeout=5.0)


@dataclass(frozen=True)
class Page:
    slug: str
    title: str
    horizon: str  # operational, tactical, strategic, constitutional; "mesh" for the registry's page
    hubs: tuple[str, ...]  # the only hubs it asks (and whose applied batches refresh it)
    template: str
    load: Load
    update: Update | None = None  # cheaper than `load` after a batch it understands (gateway/pages/views.py)
    lists: tuple[KeyedList, ...] = ()  # patched item by item after a partial update


STATUS_ORDER = {"red": 0, "amber": 1, "green": 2}
STATUSES = ("red", "amber", "green", "unknown")  # every cell is one of these, and counted


async def operational(ask_: Asker) -> dict[str, Any]:
    """ops-hub's now view: the service grid with reasons, incidents, access paths, certificates and backups,
    the change log and open alerts."""
    # Side by side: a live refresh waits for the slowest answer, not for their sum.
    found, incidents, raised, acknowledged, changes = await asyncio.gather(
        ask_("ops-hub", "get_services"),
        ask_("ops-hub", "get_incidents", include_resolved=True),
        ask_("ops-hub", "get_alerts", status="raised"),
        ask_("ops-hub", "get_alerts", status="acknowledged"),
        ask_("ops-hub", "get_changes", limit=10),
    )
    incidents = sorted(incidents["incidents"], key=lambda i: str(i.get("opened_at") or ""), reverse=True)
    rest = {"incidents": incidents, "changes": changes["changes"], "alerts": raised["alerts"] + acknowledged["alerts"]}
    return _operational_view(found["services"], rest)


# Events whose only effect on ops-hub's answers is their own service's entry in get_services (health.py: a
# health check is evidence of the entity it names), so a live page may re-read that service alone.
ONE_SERVICE_TYPES = frozenset({"ops-health-checked"})
ONE_SERVICE_AT_MOST = 50  # more services in one batch: read them all instead


def operational_update(changed: frozenset[str]) -> Partial | None:
    """After a batch of only health checks of services: read those services again and keep the rest (None
    when the batch did anything else: the caller reads everything)."""
    entities = set()
    for subject in changed:
        tokens = subject.split(".")
        if len(tokens) != 4 or tokens[1] != "ops-hub" or tokens[2] not in ONE_SERVICE_TYPES:
            return None
        entity = entity_from_token(tokens[3])
        if not entity or not entity.startswith("service/"):
            return None
        entities.add(entity)
    if len(entities) > ONE_SERVICE_AT_MOST:
        return None

    async def read(ask_: Asker) -> Merge | None:
        found = await ask_("ops-hub", "get_services", entities=sorted(entities))  # one call for all of them
        fresh = {s["entity"]: s for s in found["services"]}
        if fresh.keys() != entities:
            return None  # a service retired meanwhile: not a one-row change

        def merge(data: dict[str, Any]) -> dict[str, Any]:
            kept = dict(fresh)
            services = [kept.pop(s["entity"], s) for s in data["services"]] + list(kept.values())
            return _operational_view(services, data)

        return merge

    return Partial(frozenset(entities), read)


def _operational_view(services: list[dict[str, Any]], rest: dict[str, Any]) -> dict[str, Any]:
    """The page's data from ops-hub's services and the rest of its answers (incidents, changes, alerts)."""
    grid = sorted((_cell(s) for s in services), key=lambda c: (STATUS_ORDER.get(c["status"], 3), c["name"]))
    paths = [{**p, "service": s["name"]} for s in services for p in s.get("access_paths") or []]
    certificates = sorted(
        ({**c, "service": s["name"]} for s in services for c in s.get("certificates") or []),
        key=lambda c: (c["days_left"] if c.get("days_left") is not None else float("inf"), c["service"]),
    )  # the soonest to expire first
    backups = [
        {"service": s["name"], "backups": ", ".join(s.get("backups") or [])} for s in services if s.get("backups")
    ]
    return {
        "services": services,
        "grid": grid,
        "counts": {status: sum(1 for c in grid if c["status"] == status) for status in STATUSES},
        "incidents": rest["incidents"],
        "paths": paths,
        "certificates": certificates,
        "backups": backups,
        "changes": rest["changes"],
        "alerts": rest["alerts"],
    }


def _cell(service: dict[str, Any]) -> dict[str, Any]:
    """A grid cell: the colour in words, ops-hub's reason for it (its evidence and open incidents, hubs/ops/
    verdict.py), the event that decided it, and when it was last checked (worded now: a live page caches a
    cell by its value, so the words are part of it)."""
    verdict = service.get("verdict") or {}
    return {
        "name": service["name"],
        "status": verdict.get("status") or "unknown",
        "environment": service.get("environment"),
        "owner": service.get("owner"),
        "reason": verdict.get("reason") or "no evidence yet",
        "event_id": verdict.get("event_id"),
        "checked": when(service.get("checked_at")) if service.get("checked_at") else None,
    }


async def tactical(ask_: Asker) -> dict[str, Any]:
    return {"summary": await ask_("dev-hub", "get_domain_summary")}


async def strategic(ask_: Asker) -> dict[str, Any]:
    """fin-hub's: runway with its burn split (variable and committed), budgets against spend, cost per
    service, token spend per agent (and by model), alerts."""
    summary, spend = await asyncio.gather(ask_("fin-hub", "get_domain_summary"), ask_("fin-hub", "get_spend"))
    runway = summary["runway"]
    per_actor = spend["token_spend_per_actor"]
    return {
        "runway": runway,
        "burn": burn_split(runway),
        "budgets": summary["budgets"],
        "costs": spend["cost_per_service"],
        "agents": [a for a in per_actor if a["actor_kind"] == "agent"],
        "others": [a for a in per_actor if a["actor_kind"] != "agent"],
        "models": summary["token_spend"],
        "alerts": summary["alerts"],
    }


def burn_split(runway: dict[str, Any]) -> list[dict[str, Any]]:
    """The monthly burn's parts with their share in whole percent (money arrives as exact decimal text)."""
    variable, committed = Decimal(str(runway["variable_monthly"])), Decimal(str(runway["committed_monthly"]))
    total = variable + committed
    parts = [("variable", "variable (recent spend)", variable), ("committed", "committed (contracts)", committed)]
    shown = [
        {"key": key, "label": label, "amount": amount, "share": round(amount * 100 / total) if total else 0}
        for key, label, amount in parts
    ]
    return [*shown, {"key": "total", "label": "total", "amount": total, "share": 100 if total else 0}]


AUDIT_ROWS = 50


async def constitutional(ask_: Asker) -> dict[str, Any]:
    """canon-hub's: policies with their values, mandates (who may do what, until when), the calls held for a
    person's approval, open escalations, its open alerts (a refused repository commit, drift from the
    repository), the calls the gateway refused, and the audit of agents' actions with their revert state."""
    reads = [ask_("canon-hub", "get_domain_summary"), ask_("canon-hub", "get_refusals", limit=50),
             ask_("canon-hub", "get_alerts", status="raised", limit=50),
             ask_("canon-hub", "get_approvals", status="pending", limit=50)]  # fmt: skip
    if not ask_.as_of:  # the audit reads the log, not a copy (a copy's page says so)
        reads.append(ask_("canon-hub", "get_agent_actions", limit=AUDIT_ROWS, before=ask_.before))
    summary, refused, alerts, held, *audit = await asyncio.gather(*reads)
    return {"summary": summary, "refusals": refused["refusals"], "alerts": alerts["alerts"],
            "approvals": held["approvals"], "audit": audit[0] if audit else None}  # fmt: skip


async def hubs(ask_: Asker) -> dict[str, Any]:
    """Every hub: the coded ones and the registry beside those the registry lists, each manifest in words."""
    listed = await ask_("registry", "list_hubs")
    return {"hubs": hub_cards(listed["hubs"])}


GRID = KeyedList("grid", "grid-cells", "grid", ("ops_cell.html", "cell"), lambda c: f"cell-{c['name']}")

PAGES = {
    p.slug: p
    for p in (
        Page(
            "operational",
            "Operations now",
            "operational",
            ("ops-hub",),
            "operational.html",
            operational,
            operational_update,
            (GRID,),
        ),  # fmt: skip
        Page("tactical", "Development", "tactical", ("dev-hub",), "summary.html", tactical),
        Page("strategic", "Finance", "strategic", ("fin-hub",), "strategic.html", strategic),
        Page("constitutional", "Canon", "constitutional", ("canon-hub",), "constitutional.html", constitutional),
        Page("hubs", "Hubs", "mesh", ("registry",), "hubs.html", hubs),
    )
}


def sections(summary: dict[str, Any]) -> tuple[list[tuple[str, Any]], list[tuple[str, list[str], list[list[Any]]]]]:
    """A summary as (scalars, tables): each list of records becomes a table of its own (the CLI's rendering)."""
    scalars = [(k, v) for k, v in summary.items() if not isinstance(v, list | dict)]
    tables = []
    for key, value in summary.items():
        if isinstance(value, dict):
            tables.append((key, ["", "value"], [[k, _flat(v)] for k, v in value.items()]))
        elif isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
            columns = list(dict.fromkeys(c for row in value for c in row))
            tables.append((key, columns, [[_flat(row.get(c)) for c in columns] for row in value]))
        elif isinstance(value, list):
            scalars.append((key, _flat(value) or "—"))
    return scalars, tables


def words(key: str) -> str:
    """A summary's key as a heading: `open_blockers` -> `Open blockers`."""
    text = str(key).replace("_", " ").strip()
    return text[:1].upper() + text[1:]


def _flat(value: Any) -> Any:
    """A nested value as one cell's text, any time in it worded (gateway/pages/when.py)."""
    if isinstance(value, list):
        return Markup(", ").join(when(v) for v in value)
    if isinstance(value, dict):
        return Markup("; ").join(Markup("{}: {}").format(k, when(v)) for k, v in value.items())
    return value
