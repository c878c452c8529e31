"""sec-hub's handlers: pure folds of one event into the batch's changes."""

from __future__ import annotations

from vsmesh.events.schemas.sec import (
    SecExceptionExpired,
    SecExceptionGranted,
    SecFindingFixed,
    SecFindingReported,
    SecRotationPolicyAdopted,
    SecSecretRotated,
    SecSecretTracked,
)
from vsmesh.hubs.core import hub_projection
from vsmesh.hubs.sec import manifest
from vsmesh.hubs.sec.tables import (
    exceptions,
    finding_sightings,
    findings,
    metadata,
    rotation_policies,
    rotations,
    secrets,
)
from vsmesh.projectors.engine.changes import Changes
from vsmesh.projectors.engine.projection import Applied, Handlers, Projection


def on_finding_reported(event: SecFindingReported, at: Applied, changes: Changes) -> None:
    d = event.data
    changes.upsert(
        findings,
        {
            "finding_id": d.finding_id,
            "service": d.service,
            "source": d.source,
            "rule": d.rule,
            "severity": d.severity,
            "title": d.title,
            "package": d.package,
            "installed_version": d.installed_version,
            "fixed_version": d.fixed_version,
            "target": d.target,
            "production": d.production,
            "status": "open",  # reported again after a fix: open again
            "last_report": d.report,
            "last_seen_at": event.time,
            "event_id": event.id,
            "fixed_at": None,
            "fixed_event_id": None,
        },
    )
    changes.upsert(finding_sightings, {"event_id": event.id, "finding_id": d.finding_id, "seen_at": event.time})


def on_finding_fixed(event: SecFindingFixed, at: Applied, changes: Changes) -> None:
    d = event.data
    changes.upsert(
        findings,
        {"finding_id": d.finding_id, "service": d.service, "status": "fixed", "fixed_at": event.time,
         "fixed_event_id": event.id},
    )  # fmt: skip


def on_exception_granted(event: SecExceptionGranted, at: Applied, changes: Changes) -> None:
    d = event.data
    changes.upsert(
        exceptions,
        {
            "exception_id": d.exception_id,
            "finding_id": d.finding_id,
            "rule": d.rule,
            "service": d.service,
            "owner": d.owner,
            "reason": d.reason,
            "compensating_control": d.compensating_control,
            "expires_on": d.expires_on,
            "granted_at": event.time,
            "granted_by": event.actor,
            "event_id": event.id,
            # A renewal (a new expiry) is a new exception to watch.
            "expired_event_id": None,
            "expired_seen_at": None,
        },
    )


def on_exception_expired(event: SecExceptionExpired, at: Applied, changes: Changes) -> None:
    d = event.data
    changes.upsert(
        exceptions,
        {"exception_id": d.exception_id, "expired_event_id": event.id, "expired_seen_at": event.time},
    )


def on_secret_tracked(event: SecSecretTracked, at: Applied, changes: Changes) -> None:
    d = event.data
    changes.upsert(
        secrets,
        {"secret_set": d.secret_set, "owner": d.owner, "environment": d.environment, "tracked_at": event.time,
         "tracked_event_id": event.id},
    )  # fmt: skip


def on_secret_rotated(event: SecSecretRotated, at: Applied, changes: Changes) -> None:
    d = event.data
    changes.upsert(
        rotations, {"event_id": event.id, "secret_set": d.secret_set, "rotated_on": d.rotated_on, "note": d.note}
    )


def on_rotation_policy_adopted(event: SecRotationPolicyAdopted, at: Applied, changes: Changes) -> None:
    d = event.data
    changes.upsert(
        rotation_policies,
        {"event_id": event.id, "policy": d.policy, "version": d.version, "max_age_days": d.max_age_days,
         "adopted_at": event.time},
    )  # fmt: skip


HANDLERS: Handlers = {
    SecFindingReported: on_finding_reported,
    SecFindingFixed: on_finding_fixed,
    SecExceptionGranted: on_exception_granted,
    SecExceptionExpired: on_exception_expired,
    SecSecretTracked: on_secret_tracked,
    SecSecretRotated: on_secret_rotated,
    SecRotationPolicyAdopted: on_rotation_policy_adopted,
}


def projection() -> Projection:
    return hub_projection(manifest.SLUG, metadata, HANDLERS, manifest.EVENT_TYPES, manifest.ANNOTATION_CATEGORIES)
