"""aud-hub's handlers: pure folds of a finding's raise and resolution into its row."""

from __future__ import annotations

from vsmesh.hubs.aud import manifest
from vsmesh.hubs.aud.events import AudFindingRaised, AudFindingResolved
from vsmesh.hubs.aud.tables import findings, metadata
from vsmesh.hubs.core import hub_projection
from vsmesh.projectors.engine.changes import Changes
from vsmesh.projectors.engine.projection import Applied, Handlers, Projection


def on_raised(event: AudFindingRaised, at: Applied, changes: Changes) -> None:
    d = event.data
    changes.upsert(
        findings,
        {
            "finding_id": d.finding_id,
            "check_name": d.check,
            "title": d.title,
            "severity": d.severity,
            "status": "open",
            "evidence": d.evidence,
            "digest": d.digest,
            "raised_at": event.time,
            "raised_event_id": event.id,
            "resolved_at": None,
            "resolved_event_id": None,
            "resolution": None,
        },
    )


def on_resolved(event: AudFindingResolved, at: Applied, changes: Changes) -> None:
    d = event.data
    changes.upsert(
        findings,
        {
            "finding_id": d.finding_id,
            "status": "resolved",
            "resolved_at": event.time,
            "resolved_event_id": event.id,
            "resolution": d.reason,
        },
    )


HANDLERS: Handlers = {AudFindingRaised: on_raised, AudFindingResolved: on_resolved}


def projection() -> Projection:
    return hub_projection(manifest.SLUG, metadata, HANDLERS, manifest.EVENT_TYPES)
