"""ops-hub's handlers: pure folds of one event into the batch's changes."""

from __future__ import annotations

import sqlalchemy as sa

from vsmesh.events.envelope import Event
from vsmesh.events.schemas.alert import AlertRaised
from vsmesh.events.schemas.ops import OpsHealthChecked, OpsInventoryRegistered
from vsmesh.hubs.ops import manifest
from vsmesh.hubs.ops.tables import RECENT_EVENTS_KEPT, alerts, metadata, recent_events, services
from vsmesh.projectors.changes import Changes
from vsmesh.projectors.projection import Applied, Projection

SERVICE_PREFIX = "service/"


def _service_name(entity: str | None) -> str | None:
    if entity and entity.startswith(SERVICE_PREFIX):
        return entity[len(SERVICE_PREFIX) :]
    return None


def _remember(event: Event, at: Applied, changes: Changes, summary: str) -> None:
    changes.insert(
        recent_events,
        {
            "stream": at.stream,
            "seq": at.sequence,
            "event_id": event.id,
            "time": event.time,
            "type": event.type,
            "entity": event.subject,
            "actor": event.actor,
            "summary": summary,
        },
    )


def on_inventory_registered(event: OpsInventoryRegistered, at: Applied, changes: Changes) -> None:
    data = event.data
    _remember(event, at, changes, f"{data.kind} {data.name} registered")
    if data.kind != "service":
        return  # other inventory kinds get their tables with the hubs issue
    changes.upsert(
        services,
        {
            "entity": event.subject or f"{SERVICE_PREFIX}{data.name}",
            "name": data.name,
            "environment": data.environment,
            "owner": data.owner,
            "attributes": data.attributes,
            "updated_seq": at.sequence,
        },
    )


def on_health_checked(event: OpsHealthChecked, at: Applied, changes: Changes) -> None:
    _remember(event, at, changes, f"health {event.data.status}")
    name = _service_name(event.subject)
    if name is None:
        return
    changes.upsert(
        services,
        {
            "entity": event.subject,
            "name": name,
            "status": event.data.status,
            "checked_at": event.time,
            "observations": event.data.observations,
            "evidence_event_id": event.id,
            "updated_seq": at.sequence,
        },
    )


def on_alert_raised(event: AlertRaised, at: Applied, changes: Changes) -> None:
    _remember(event, at, changes, f"alert {event.data.severity}: {event.data.title}")
    changes.upsert(  # keyed by event id: the same event seen twice (a replay) is one alert
        alerts,
        {
            "event_id": event.id,
            "entity": event.subject,
            "title": event.data.title,
            "severity": event.data.severity,
            "status": "raised",
            "raised_at": event.time,
            "actor": event.actor,
        },
    )


def _trim_recent() -> list[sa.Executable]:
    # Keeps the newest rows whatever the batch boundaries were, so a rebuild ends identical.
    newest = (
        sa.select(recent_events.c.stream, recent_events.c.seq)
        .order_by(recent_events.c.time.desc(), recent_events.c.stream.desc(), recent_events.c.seq.desc())
        .limit(RECENT_EVENTS_KEPT)
    )
    keep = sa.tuple_(recent_events.c.stream, recent_events.c.seq).in_(newest)
    return [sa.delete(recent_events).where(sa.not_(keep))]


def projection() -> Projection:
    return Projection(
        hub=manifest.SLUG,
        streams={"OPERATIONAL": f"operational.{manifest.SLUG}.>"},
        metadata=metadata,
        handlers={
            "ops-inventory-registered": on_inventory_registered,
            "ops-health-checked": on_health_checked,
            "alert-raised": on_alert_raised,
        },
        after_batch=_trim_recent,
    )
