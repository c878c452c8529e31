"""Folds of the evidence events: the latest observation of each kind per entity, as green/amber/red."""

from __future__ import annotations

from typing import Any

import msgspec

from vsmesh.events.envelope import Event
from vsmesh.events.schemas.ops import (
    OpsBackupVerified,
    OpsDriftDetected,
    OpsEndpointVerified,
    OpsHealthChecked,
    OpsReleaseObserved,
    OpsRestoreTested,
    OpsRunbookExecuted,
)
from vsmesh.hubs.ops.fold_inventory import entity_of
from vsmesh.hubs.ops.recent import remember
from vsmesh.hubs.ops.tables import debts, evidence
from vsmesh.projectors.engine.changes import Changes
from vsmesh.projectors.engine.projection import Applied, Handlers

_VERDICT = {"passed": "green", "failed": "red"}
_OUTCOME = {"succeeded": "green", "aborted": "amber", "failed": "red"}


def _plain(value: Any) -> Any:
    # Event data are msgspec Structs; JSONB wants builtins (datetimes as ISO text).
    return msgspec.to_builtins(value)


def record(event: Event, at: Applied, changes: Changes, entity: str, kind: str, status: str, summary: str) -> None:
    """Keep this event as the entity's latest evidence of `kind`, and in the recent events."""
    remember(event, at, changes, summary)
    changes.upsert(
        evidence,
        {
            "entity": entity,
            "kind": kind,
            "status": status,
            "at": event.time,
            "event_id": event.id,
            "actor": event.actor,
            "summary": summary,
            # The Struct itself: the JSONB writer encodes it with msgspec (projectors/engine/database.py), and
            # most of a batch's rows are overwritten before they are written, so no conversion here.
            "detail": event.data,
            "updated_seq": at.sequence,
        },
    )


def on_health_checked(event: OpsHealthChecked, at: Applied, changes: Changes) -> None:
    if not event.subject:
        remember(event, at, changes, f"health {event.data.status} without a subject: not attributed")
        return
    record(event, at, changes, event.subject, "health", event.data.status, f"health {event.data.status}")


def on_endpoint_verified(event: OpsEndpointVerified, at: Applied, changes: Changes) -> None:
    data = event.data
    status = "green" if data.passed else "red"
    seen = "no answer" if data.observed_status is None else str(data.observed_status)
    summary = f"{data.method} {data.endpoint}: {seen} (expected {data.expected_status})"
    if data.verdict == "failed" and data.observed_status == data.expected_status:
        summary += ", but the probe's other conditions failed"  # headers, body, time: see metadata.probe
    record(event, at, changes, entity_of(event.subject, "endpoint", data.endpoint), "endpoint", status, summary)


def on_backup_verified(event: OpsBackupVerified, at: Applied, changes: Changes) -> None:
    data = event.data
    entity = entity_of(event.subject, "backup-set", data.backup_set)
    record(event, at, changes, entity, "backup", _VERDICT[data.verdict], f"backup {data.backup_set} {data.verdict}")


def on_restore_tested(event: OpsRestoreTested, at: Applied, changes: Changes) -> None:
    data = event.data
    entity = entity_of(event.subject, "backup-set", data.backup_set)
    summary = f"restore of {data.backup_set} {data.verdict}" + (f" to {data.target}" if data.target else "")
    record(event, at, changes, entity, "restore", _VERDICT[data.verdict], summary)


def on_runbook_executed(event: OpsRunbookExecuted, at: Applied, changes: Changes) -> None:
    data = event.data
    entity = entity_of(event.subject, "runbook", data.runbook)
    record(event, at, changes, entity, "runbook", _OUTCOME[data.outcome], f"runbook {data.runbook} {data.outcome}")


def on_release_observed(event: OpsReleaseObserved, at: Applied, changes: Changes) -> None:
    data = event.data
    entity = entity_of(event.subject, "release", data.release)
    summary = f"release {data.release} {data.version or data.app_version or ''}".rstrip() + " observed"
    record(event, at, changes, entity, "release", "green", summary)


def on_drift_detected(event: OpsDriftDetected, at: Applied, changes: Changes) -> None:
    data = event.data
    entity = event.subject or "_"
    # The row keeps the latest comparison: open while desired and actual differ, over once a resolved event
    # (desired == actual) replaces it.
    said = f"drift resolved: {data.summary}" if data.resolved else f"drift ({data.severity}): {data.summary}"
    remember(event, at, changes, said)
    changes.upsert(
        debts,
        {
            "entity": entity,
            "category": "drift",
            "summary": data.summary,
            "severity": data.severity,
            "source_of_truth": data.source_of_truth,
            "desired": _plain(data.desired),
            "actual": _plain(data.actual),
            "detected_at": event.time,
            "event_id": event.id,
            "updated_seq": at.sequence,
        },
    )


def handlers() -> Handlers:
    return {
        OpsHealthChecked: on_health_checked,
        OpsEndpointVerified: on_endpoint_verified,
        OpsBackupVerified: on_backup_verified,
        OpsRestoreTested: on_restore_tested,
        OpsRunbookExecuted: on_runbook_executed,
        OpsReleaseObserved: on_release_observed,
        OpsDriftDetected: on_drift_detected,
    }
