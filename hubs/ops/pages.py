"""ops-hub's page: the operational now view (the service grid with reasons, incidents, access paths,
certificates and backups, the change log and open alerts), refreshed cell by cell after health checks."""

from __future__ import annotations

import asyncio
from typing import Any

from vsmesh.bus.subjects import entity_from_token
from vsmesh.gateway.pages.page import Asker, KeyedList, Merge, Page, Partial
from vsmesh.gateway.pages.when import when

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


GRID = KeyedList("grid", "grid-cells", "grid", ("ops-hub/ops_cell.html", "cell"), lambda c: f"cell-{c['name']}")
PAGES = (
    Page("operational", "Operations now", "operational", ("ops-hub",), "ops-hub/operational.html", operational,
         operational_update, (GRID,)),
)  # fmt: skip
