"""dev-hub's handlers: pure folds of one event into the batch's changes."""

from __future__ import annotations

from typing import Any

from vsmesh.events.envelope import Event
from vsmesh.events.schemas.dev import (
    DevBlockerCleared,
    DevBlockerRaised,
    DevDecisionRecorded,
    DevDeploymentCompleted,
    DevDeploymentFailed,
    DevDeploymentRolledBack,
    DevDeploymentStarted,
    DevReleasePublished,
    DevRepoPushed,
    DevRepoRegistered,
)
from vsmesh.hubs.core import hub_projection
from vsmesh.hubs.dev import manifest
from vsmesh.hubs.dev.tables import blockers, decisions, deployments, metadata, repo_activity, repos, running
from vsmesh.projectors.engine.changes import Changes
from vsmesh.projectors.engine.projection import Applied, Handlers, Projection


def on_repo_registered(event: DevRepoRegistered, at: Applied, changes: Changes) -> None:
    d = event.data
    changes.upsert(
        repos,
        {
            "name": d.name,
            "url": d.url,
            "domain": d.domain,
            "default_branch": d.default_branch,
            "path": d.path,
            "registered_at": event.time,
            "metadata": d.metadata or None,
        },
    )


def _deployment(event: Event, at: Applied, changes: Changes, deployment_id: str | None, **row: Any) -> None:
    # Only the columns an event knows are written: a `completed` keeps the repo and commit `started` gave.
    known = {k: v for k, v in row.items() if v is not None}
    changes.upsert(deployments, {"deployment_id": deployment_id or event.id, "updated_seq": at.sequence, **known})


def on_deployment_started(event: DevDeploymentStarted, at: Applied, changes: Changes) -> None:
    d = event.data
    _deployment(
        event, at, changes, None, service=d.service, version=d.version, environment=d.environment,
        status="started", started_at=event.time, repo=d.repo, commit=d.commit, actor=event.actor,
    )  # fmt: skip


def on_deployment_completed(event: DevDeploymentCompleted, at: Applied, changes: Changes) -> None:
    d = event.data
    deployment_id = d.deployment_id or event.id
    _deployment(
        event, at, changes, deployment_id, service=d.service, version=d.version, environment=d.environment,
        status="completed", finished_at=event.time, repo=d.repo, commit=d.commit, detail=d.rollback_path,
    )  # fmt: skip
    changes.upsert(
        running,
        {
            "service": d.service,
            "environment": d.environment or "",
            "version": d.version,
            "deployment_id": deployment_id,
            "since": event.time,
        },
    )


def on_deployment_failed(event: DevDeploymentFailed, at: Applied, changes: Changes) -> None:
    d = event.data
    _deployment(
        event, at, changes, d.deployment_id, service=d.service, version=d.version, environment=d.environment,
        status="failed", finished_at=event.time, detail=d.error,
    )  # fmt: skip


def on_deployment_rolled_back(event: DevDeploymentRolledBack, at: Applied, changes: Changes) -> None:
    d = event.data
    deployment_id = d.deployment_id or event.id
    _deployment(
        event, at, changes, deployment_id, service=d.service, version=d.from_version,
        environment=d.environment, status="rolled-back", finished_at=event.time, detail=d.reason,
    )  # fmt: skip
    changes.upsert(
        running,
        {
            "service": d.service,
            "environment": d.environment or "",
            "version": d.to_version,
            "deployment_id": deployment_id,
            "since": event.time,
        },
    )


def on_blocker_raised(event: DevBlockerRaised, at: Applied, changes: Changes) -> None:
    d = event.data
    changes.upsert(
        blockers,
        {
            "blocker_id": event.id,
            "title": d.title,
            "severity": d.severity,
            "blocking": d.blocking,
            "description": d.description,
            "cause_event_id": d.cause_event_id,
            "status": "raised",
            "raised_at": event.time,
        },
    )


def on_blocker_cleared(event: DevBlockerCleared, at: Applied, changes: Changes) -> None:
    changes.upsert(
        blockers,
        {
            "blocker_id": event.data.blocker_id,
            "status": "cleared",
            "cleared_at": event.time,
            "resolution": event.data.resolution,
        },
    )


def on_decision_recorded(event: DevDecisionRecorded, at: Applied, changes: Changes) -> None:
    d = event.data
    changes.upsert(
        decisions,
        {
            "decision_id": event.id,
            "title": d.title,
            "decision": d.decision,
            "rationale": d.rationale,
            "alternatives": d.alternatives,
            "status": d.status,
            "supersedes": d.supersedes,
            "recorded_at": event.time,
            "actor": event.actor,
        },
    )
    if d.supersedes:
        changes.upsert(decisions, {"decision_id": d.supersedes, "status": "superseded", "superseded_by": event.id})


def on_repo_pushed(event: DevRepoPushed, at: Applied, changes: Changes) -> None:
    d = event.data
    changes.upsert(
        repo_activity, {"repo": d.repo, "ref": d.ref, "commit": d.after, "pusher": d.pusher, "pushed_at": event.time}
    )


def on_release_published(event: DevReleasePublished, at: Applied, changes: Changes) -> None:
    changes.upsert(repo_activity, {"repo": event.data.repo, "release": event.data.tag, "released_at": event.time})


HANDLERS: Handlers = {
    DevRepoRegistered: on_repo_registered,
    DevDeploymentStarted: on_deployment_started,
    DevDeploymentCompleted: on_deployment_completed,
    DevDeploymentFailed: on_deployment_failed,
    DevDeploymentRolledBack: on_deployment_rolled_back,
    DevBlockerRaised: on_blocker_raised,
    DevBlockerCleared: on_blocker_cleared,
    DevDecisionRecorded: on_decision_recorded,
    DevRepoPushed: on_repo_pushed,
    DevReleasePublished: on_release_published,
}


def projection() -> Projection:
    return hub_projection(manifest.SLUG, metadata, HANDLERS, manifest.EVENT_TYPES, manifest.ANNOTATION_CATEGORIES)
