"""Folds of incidents (open → investigating → mitigated → resolved, with a timeline) and change records."""

from __future__ import annotations

from vsmesh.events.envelope import Event
from vsmesh.events.schemas.ops import OpsChangeRecorded, OpsIncidentOpened, OpsIncidentResolved, OpsIncidentUpdated
from vsmesh.hubs.ops.recent import remember
from vsmesh.hubs.ops.tables import change_records, incident_timeline, incidents
from vsmesh.projectors.engine.changes import Changes
from vsmesh.projectors.engine.projection import Applied, Handlers


def _timeline(
    event: Event,
    at: Applied,
    changes: Changes,
    incident_id: str,
    status: str | None,
    note: str | None,
    severity: str | None = None,
) -> None:
    changes.insert(
        incident_timeline,
        {
            "stream": at.stream,
            "seq": at.sequence,
            "incident_id": incident_id,
            "event_id": event.id,
            "time": event.time,
            "type": event.type,
            "status": status,
            "severity": severity,
            "note": note,
            "actor": event.actor,
        },
    )


def on_opened(event: OpsIncidentOpened, at: Applied, changes: Changes) -> None:
    data = event.data
    remember(event, at, changes, f"incident opened ({data.severity}): {data.title}")
    changes.upsert(
        incidents,
        {
            "incident_id": event.id,
            "entity": event.subject,
            "title": data.title,
            "severity": data.severity,
            "status": "open",
            "description": data.description,
            "affected": data.affected,
            "commander": data.commander,
            "opened_at": event.time,
            "updated_at": event.time,
            "updated_seq": at.sequence,
        },
    )
    _timeline(event, at, changes, event.id, "open", data.description or data.title, severity=data.severity)


def on_updated(event: OpsIncidentUpdated, at: Applied, changes: Changes) -> None:
    data = event.data
    moved = ", ".join(p for p in (data.status, data.severity) if p) or "note"
    remember(event, at, changes, f"incident {data.incident_id[:8]} {moved}")
    row = {"incident_id": data.incident_id, "updated_at": event.time, "updated_seq": at.sequence}
    if data.status:
        row["status"] = data.status
    if data.severity:
        row["severity"] = data.severity
    if data.affected:
        row["affected"] = data.affected  # the full list as it stands now
    changes.upsert(incidents, row)
    _timeline(event, at, changes, data.incident_id, data.status, data.note, severity=data.severity)


def on_resolved(event: OpsIncidentResolved, at: Applied, changes: Changes) -> None:
    data = event.data
    remember(event, at, changes, f"incident {data.incident_id[:8]} resolved")
    changes.upsert(
        incidents,
        {
            "incident_id": data.incident_id,
            "status": "resolved",
            "resolved_at": event.time,
            "updated_at": event.time,
            "resolution": data.resolution,
            "root_cause": data.root_cause,
            "postmortem": data.postmortem,
            "updated_seq": at.sequence,
        },
    )
    _timeline(event, at, changes, data.incident_id, "resolved", data.resolution)


def on_change_recorded(event: OpsChangeRecorded, at: Applied, changes: Changes) -> None:
    data = event.data
    remember(event, at, changes, f"change: {data.summary}")
    changes.upsert(
        change_records,
        {
            "event_id": event.id,
            "entity": event.subject,
            "time": event.time,
            "actor": event.actor,
            "summary": data.summary,
            "change_kind": data.change_kind,
            "environment": data.environment,
            "version": data.version,
            "rollback_path": data.rollback_path,
            "reference": data.reference,
            "seq": at.sequence,
        },
    )


def handlers() -> Handlers:
    return {
        OpsIncidentOpened: on_opened,
        OpsIncidentUpdated: on_updated,
        OpsIncidentResolved: on_resolved,
        OpsChangeRecorded: on_change_recorded,
    }
