"""ops-hub's answers, read from its read model: the core's operations plus the domain summary,
services and migration-wave readiness. Staleness is judged against the request's `now` (default: the clock)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from pydantic import Field
from sqlalchemy.ext.asyncio import AsyncConnection

from vsmesh.errors import ContractError
from vsmesh.hubs.contract import ContractRequest, HubContext, Operation
from vsmesh.hubs.core import core_operations
from vsmesh.hubs.ops import reads
from vsmesh.hubs.ops.health import Staleness, utc_now
from vsmesh.hubs.ops.readiness_view import describe_wave, evidence_ids, wave_names
from vsmesh.hubs.ops.service_view import describe_services
from vsmesh.settings import Settings

# What the summary shows of each service's certificate and backups (service_view.certificate_and_backup).
CERT_AND_BACKUP = ("tls_days_left", "backup_age_hours")


def staleness_from(settings: Settings) -> Staleness:
    return Staleness(settings.ops_stale_amber_minutes, settings.ops_stale_red_minutes)


# For readers without settings at hand (`vsmesh summary` reads the tables directly): the settings' defaults.
DEFAULT_STALENESS = Staleness(
    Settings.model_fields["ops_stale_amber_minutes"].default, Settings.model_fields["ops_stale_red_minutes"].default
)


def _aware(now: dt.datetime | None) -> dt.datetime:
    if now is None:
        return utc_now()
    return now if now.tzinfo else now.replace(tzinfo=dt.UTC)  # a naive time is read as UTC


async def services(
    conn: AsyncConnection,
    *,
    now: dt.datetime | None = None,
    staleness: Staleness | None = None,
    snap: reads.Snapshot | None = None,
    **filters: Any,
) -> list[dict[str, Any]]:
    """Every service with its place, owner, reach and health evidence."""
    snap = snap or await reads.load_snapshot(conn)
    incidents = await reads.incident_rows(conn, open_only=True)
    return describe_services(snap, staleness or DEFAULT_STALENESS, _aware(now), incidents, **filters)


async def readiness(conn: AsyncConnection, wave: str) -> dict[str, Any]:
    """A migration wave's gates and whether it may proceed; ContractError `not_found` for an unknown wave."""
    snap = await reads.load_snapshot(conn)
    gates = await reads.gate_rows(conn)
    proofs = await reads.evidence_by_id(conn, evidence_ids(gates))
    answer = describe_wave(snap, wave, gates, proofs)
    if answer is None:
        known = ", ".join(wave_names(snap, gates)) or "none yet"
        raise ContractError("not_found", f"ops-hub knows no migration wave {wave!r}; known waves: {known}")
    return answer


async def domain_summary(
    conn: AsyncConnection, *, recent: int = 10, now: dt.datetime | None = None, staleness: Staleness | None = None
) -> dict[str, Any]:
    """Services by health, open alerts and incidents, waves, and the latest events."""
    snap = await reads.load_snapshot(conn)  # once: the whole inventory and its evidence
    found = await services(conn, now=now, staleness=staleness, snap=snap)
    service_list = [
        {k: s[k] for k in ("name", "status", "environment", "host", "owner", "checked_at", *CERT_AND_BACKUP)}
        for s in sorted(found, key=lambda s: s["name"])
    ]
    by_status: dict[str, int] = {}
    for s in service_list:
        key = s["status"] or "unknown"
        by_status[key] = by_status.get(key, 0) + 1
    gates = await reads.gate_rows(conn)
    waves = [describe_wave(snap, w, gates, {}) for w in wave_names(snap, gates)]
    return {
        "hub": "ops-hub",
        "services": service_list,
        "by_status": by_status,
        "open_alerts": await reads.open_alert_count(conn),
        "open_incidents": len(await reads.incident_rows(conn, open_only=True)),
        "waves": [{k: w[k] for k in ("wave", "passing", "total", "may_proceed")} for w in waves if w],
        "recent_changes": await reads.recent_changes(conn, 5),
        "recent_events": await reads.latest_events(conn, recent),
    }


class ClockedRequest(ContractRequest):
    now: dt.datetime | None = Field(None, description="judge evidence age at this time (ISO 8601); default: now")


class SummaryRequest(ClockedRequest):
    recent: int = Field(10, ge=0, le=200, description="how many of the latest events to include")


class ServicesRequest(ClockedRequest):
    name: str | None = Field(None, description="only this service")
    environment: str | None = Field(None, description="only services in this environment")
    include_retired: bool = False


class ReadinessRequest(ContractRequest):
    wave: str = Field(..., min_length=1, description="the migration wave, e.g. coulombcore-to-threephoenix")


class IncidentsRequest(ContractRequest):
    include_resolved: bool = False
    incident_id: str | None = None


async def get_domain_summary(ctx: HubContext, request: SummaryRequest) -> dict[str, Any]:
    async with ctx.read() as conn:
        stale = staleness_from(ctx.settings)
        return await domain_summary(conn, recent=request.recent, now=request.now, staleness=stale)


async def get_services(ctx: HubContext, request: ServicesRequest) -> dict[str, Any]:
    filters = request.model_dump(include={"name", "environment", "include_retired"})
    async with ctx.read() as conn:
        found = await services(conn, now=request.now, staleness=staleness_from(ctx.settings), **filters)
    return {"hub": "ops-hub", "now": _aware(request.now), "services": found}


async def get_readiness(ctx: HubContext, request: ReadinessRequest) -> dict[str, Any]:
    async with ctx.read() as conn:
        return await readiness(conn, request.wave)


async def get_incidents(ctx: HubContext, request: IncidentsRequest) -> dict[str, Any]:
    async with ctx.read() as conn:
        found = await reads.incident_rows(
            conn, open_only=not request.include_resolved and not request.incident_id, incident_id=request.incident_id
        )
    return {"hub": "ops-hub", "incidents": found}


class EvidenceRequest(ContractRequest):
    entity: str = Field(..., min_length=1, description="the entity, e.g. endpoint/gitea-registry")


async def get_evidence(ctx: HubContext, request: EvidenceRequest) -> dict[str, Any]:
    """The entity's latest evidence of each kind, the whole event data (metadata included) as `detail`."""
    async with ctx.read() as conn:
        snap = await reads.load_snapshot(conn)
    return {"hub": "ops-hub", "entity": request.entity, "evidence": snap.evidence.get(request.entity, [])}


def ops_operations() -> list[Operation]:
    """ops-hub's own contract operations."""
    return [
        Operation("get_domain_summary", SummaryRequest, get_domain_summary, "services by health, alerts, events"),
        Operation("get_services", ServicesRequest, get_services, "what runs where, who owns it, how it is reached"),
        Operation("get_readiness", ReadinessRequest, get_readiness, "a migration wave's gates and whether it may go"),
        Operation("get_incidents", IncidentsRequest, get_incidents, "incidents with their timelines"),
        Operation("get_evidence", EvidenceRequest, get_evidence, "an entity's latest evidence, metadata included"),
    ]


def operations() -> list[Operation]:
    """The core's operations, then ops-hub's (an ops operation of the same name wins)."""
    own = ops_operations()
    names = {op.name for op in own}
    return [*(op for op in core_operations() if op.name not in names), *own]
