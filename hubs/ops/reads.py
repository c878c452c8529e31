"""ops-hub's read operations: the domain summary, services, migration-wave readiness, incidents, evidence,
inventory and changes. Staleness is judged against the request's `now` (default: the clock)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from pydantic import Field
from sqlalchemy.ext.asyncio import AsyncConnection

from vsmesh.clock import at_or_now
from vsmesh.errors import ContractError, NotFound
from vsmesh.hubs.contract import ContractRequest, HubContext, Operation
from vsmesh.hubs.ops import queries
from vsmesh.hubs.ops.answers import Answers
from vsmesh.hubs.ops.health import Staleness
from vsmesh.hubs.ops.readiness_view import describe_wave, evidence_ids, wave_names
from vsmesh.hubs.ops.service_health import Page, read_version, service_health
from vsmesh.hubs.ops.service_pages import service_page
from vsmesh.hubs.ops.service_view import certificate_and_backup, describe_service
from vsmesh.projectors.engine.driver import schema_of
from vsmesh.settings import Settings

# Services listed per summary: a page a person reads or a script walks with `offset` (counts cover them all).
SERVICES_PAGE = 500


def staleness_from(settings: Settings) -> Staleness:
    return Staleness(settings.ops_stale_amber_minutes, settings.ops_stale_red_minutes)


# For readers without settings at hand (`vsmesh summary` reads the tables directly): the settings' defaults.
DEFAULT_STALENESS = Staleness(
    Settings.model_fields["ops_stale_amber_minutes"].default, Settings.model_fields["ops_stale_red_minutes"].default
)


async def services(
    conn: AsyncConnection,
    *,
    now: dt.datetime | None = None,
    staleness: Staleness | None = None,
    limit: int = SERVICES_PAGE,
    offset: int = 0,
    **filters: Any,
) -> tuple[int, list[dict[str, Any]]]:
    """How many services match the filters (`name`, `environment`, `include_retired`), and one page of them
    with their place, owner, reach and health evidence, by environment and name."""
    total, entities, snap = await service_page(conn, Page(limit, offset), **filters)
    incidents = await queries.incident_rows(conn, open_only=True)
    stale, at = staleness or DEFAULT_STALENESS, at_or_now(now)
    return total, [describe_service(snap, entity, stale, at, incidents) for entity in entities]


async def readiness(conn: AsyncConnection, wave: str) -> dict[str, Any]:
    """A migration wave's gates and whether it may proceed; ContractError `not_found` for an unknown wave."""
    snap = await queries.load_waves(conn)  # not the services: thousands of rows a wave never reads
    gates = await queries.gate_rows(conn)
    proofs = await queries.evidence_by_id(conn, evidence_ids(gates))
    answer = describe_wave(snap, wave, gates, proofs)
    if answer is None:
        known = ", ".join(wave_names(snap, gates)) or "none yet"
        raise NotFound(f"ops-hub knows no migration wave {wave!r}; known waves: {known}")
    return answer


async def domain_summary(
    conn: AsyncConnection,
    *,
    recent: int = 10,
    now: dt.datetime | None = None,
    staleness: Staleness | None = None,
    limit: int = SERVICES_PAGE,
    offset: int = 0,
) -> dict[str, Any]:
    """Live services by health (all counted, one page listed by name), open alerts and incidents, waves, and
    the latest events. Health is judged in SQL (service_health.py): at 10,000 services materialising every
    service in Python took 1.5 s with the event loop held. The same answer is given again while it holds
    (answers.py)."""
    now, stale = at_or_now(now), staleness or DEFAULT_STALENESS
    version = await read_version(conn)  # first: whatever is read after it is at least as new
    key = (conn.engine.url, schema_of(conn), stale, recent, limit, offset)
    if (known := _SUMMARIES.get(key, version, now)) is not None:
        return known
    health = await service_health(conn, stale, now, Page(limit, offset))
    total = sum(health.counts.values())
    listed = [{k: s[k] for k in ("name", "status", "environment", "host", "owner", "checked_at")} for s in health.rows]
    await _certificates_and_backups(conn, health.rows, listed, now)
    snap = await queries.load_waves(conn)
    gates = await queries.gate_rows(conn)
    waves = [describe_wave(snap, w, gates, {}) for w in wave_names(snap, gates)]
    answer = {
        "hub": "ops-hub",
        "services": listed,
        "services_total": total,
        "next_offset": offset + len(listed) if offset + len(listed) < total else None,
        "by_status": health.counts,
        "open_alerts": await queries.open_alert_count(conn),
        "open_incidents": await queries.open_incident_count(conn),
        "waves": [{k: w[k] for k in ("wave", "passing", "total", "may_proceed")} for w in waves if w],
        "recent_changes": await queries.recent_changes(conn, 5),
        "recent_events": await queries.latest_events(conn, recent),
    }
    _SUMMARIES.put(key, version, now, health.until, answer)
    return answer


_SUMMARIES = Answers()


async def _certificates_and_backups(
    conn: AsyncConnection, rows: list[Any], listed: list[dict[str, Any]], now: dt.datetime
) -> None:
    """Each listed service's certificate expiry and newest backup's age (service_view.certificate_and_backup),
    read for the page's services only."""
    snap = await queries.load_around(conn, [r["entity"] for r in rows], sorted({r["name"] for r in rows}))
    for row, shown in zip(rows, listed, strict=True):
        facts = certificate_and_backup(snap, row["entity"], row["name"], now)
        shown.update({k: facts[k] for k in ("tls_days_left", "backup_age_hours")})


class ClockedRequest(ContractRequest):
    now: dt.datetime | None = Field(None, description="judge evidence age at this time (ISO 8601); default: now")


class SummaryRequest(ClockedRequest):
    recent: int = Field(10, ge=0, le=200, description="how many of the latest events to include")
    limit: int = Field(SERVICES_PAGE, ge=1, le=5000, description="list at most this many services, by name")
    offset: int = Field(0, ge=0, description="skip this many services first (the answer's `next_offset`)")


class ServicesRequest(ClockedRequest):
    name: str | None = Field(None, description="only this service")
    # A live page re-reads the services a batch named, in one call (gateway/pages/pages.py operational_update).
    entities: list[str] | None = Field(None, max_length=100, description="only these, e.g. [service/gitea]")
    environment: str | None = Field(None, description="only services in this environment")
    include_retired: bool = False
    limit: int = Field(SERVICES_PAGE, ge=1, le=5000, description="at most this many services")
    offset: int = Field(0, ge=0, description="skip this many services first (the answer's `next_offset`)")


class ReadinessRequest(ContractRequest):
    wave: str = Field(..., min_length=1, description="the migration wave, e.g. coulombcore-to-threephoenix")


class IncidentsRequest(ContractRequest):
    include_resolved: bool = False
    incident_id: str | None = None


async def get_domain_summary(ctx: HubContext, request: SummaryRequest) -> dict[str, Any]:
    async with ctx.read() as conn:
        stale = staleness_from(ctx.settings)
        page = {"limit": request.limit, "offset": request.offset}
        return await domain_summary(conn, recent=request.recent, now=request.now, staleness=stale, **page)


async def get_services(ctx: HubContext, request: ServicesRequest) -> dict[str, Any]:
    filters = request.model_dump(include={"name", "entities", "environment", "include_retired"})
    page = {"limit": request.limit, "offset": request.offset}
    async with ctx.read() as conn:
        total, found = await services(conn, now=request.now, staleness=staleness_from(ctx.settings), **page, **filters)
    return {
        "hub": "ops-hub",
        "now": at_or_now(request.now),
        "services": found,
        "services_total": total,
        "next_offset": request.offset + len(found) if request.offset + len(found) < total else None,
    }


async def get_readiness(ctx: HubContext, request: ReadinessRequest) -> dict[str, Any]:
    async with ctx.read() as conn:
        return await readiness(conn, request.wave)


async def get_incidents(ctx: HubContext, request: IncidentsRequest) -> dict[str, Any]:
    async with ctx.read() as conn:
        found = await queries.incident_rows(
            conn, open_only=not request.include_resolved and not request.incident_id, incident_id=request.incident_id
        )
    return {"hub": "ops-hub", "incidents": found}


class EvidenceRequest(ContractRequest):
    entity: str = Field(..., min_length=1, description="the entity, e.g. endpoint/gitea-registry")


async def get_evidence(ctx: HubContext, request: EvidenceRequest) -> dict[str, Any]:
    """The entity's latest evidence of each kind, the whole event data (metadata included) as `detail`."""
    async with ctx.read() as conn:
        found = await queries.evidence_of(conn, request.entity)
    return {"hub": "ops-hub", "entity": request.entity, "evidence": found}


class InventoryRequest(ContractRequest):
    entity: str = Field(..., min_length=1, description="the entity, e.g. service/gitea")


async def get_inventory(ctx: HubContext, request: InventoryRequest) -> dict[str, Any]:
    """What the inventory declares of one entity (its attributes) and its latest drift comparison."""
    async with ctx.read() as conn:
        item = await queries.inventory_item(conn, request.entity)
    if item is None:
        raise ContractError(
            "not_found", f"no inventory entity {request.entity!r}; register it with ops-inventory-registered"
        )
    return {"hub": "ops-hub", "entity": request.entity, "item": item}


class SightingsRequest(ContractRequest):
    entities: list[str] = Field(..., max_length=5000, description="entities, e.g. service/gitea")


async def get_sightings(ctx: HubContext, request: SightingsRequest) -> dict[str, Any]:
    """Which of these entities the inventory holds (declared or discovered) and when a source last saw each."""
    async with ctx.read() as conn:
        return {"hub": "ops-hub", "entities": await queries.sightings(conn, request.entities)}


class InventoryListRequest(ContractRequest):
    kinds: list[str] | None = Field(None, description="only entities of these kinds (service, datastore, …)")


async def list_inventory(ctx: HubContext, request: InventoryListRequest) -> dict[str, Any]:
    """Every declared entity with its attributes, retired ones too: what a GitOps reconcile compares with."""
    async with ctx.read() as conn:
        return {"hub": "ops-hub", "inventory": await queries.inventory_index(conn, request.kinds)}


class ChangesRequest(ContractRequest):
    limit: int = Field(10, ge=1, le=200, description="how many of the latest change records")


async def get_changes(ctx: HubContext, request: ChangesRequest) -> dict[str, Any]:
    """The change log alone (the now view's): cheap at any number of services, unlike the summary."""
    async with ctx.read() as conn:
        return {"hub": "ops-hub", "changes": await queries.recent_changes(conn, request.limit)}


def read_operations() -> list[Operation]:
    return [
        Operation("get_domain_summary", SummaryRequest, get_domain_summary, "services by health, alerts, events"),
        Operation("get_services", ServicesRequest, get_services, "what runs where, who owns it, how it is reached"),
        Operation("get_readiness", ReadinessRequest, get_readiness, "a migration wave's gates and whether it may go"),
        Operation("get_incidents", IncidentsRequest, get_incidents, "incidents with their timelines"),
        Operation("get_evidence", EvidenceRequest, get_evidence, "an entity's latest evidence, metadata included"),
        Operation("get_inventory", InventoryRequest, get_inventory, "an entity's declared attributes and drift"),
        Operation("list_inventory", InventoryListRequest, list_inventory, "every declared entity and its attributes"),
        Operation("get_changes", ChangesRequest, get_changes, "the latest change records (deployments, migrations)"),
        Operation("get_sightings", SightingsRequest, get_sightings, "inventory entities held and when last seen"),
    ]
