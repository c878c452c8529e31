"""dev-*: deployments, blockers, decisions and repos of the development hub.

A deployment's follow-ups may name the id of its `dev-deployment-started` event; CI that only
reports the end sends `dev-deployment-completed` alone. Couplings turn these into ops change records.
"""

from __future__ import annotations

from typing import ClassVar, Literal

from vsmesh.events.envelope import Event, EventData, Horizon
from vsmesh.events.schemas.common import EventId, Severity

DecisionStatus = Literal["proposed", "accepted", "superseded", "rejected"]


class DeploymentStartedData(EventData, frozen=True):
    service: str
    version: str
    environment: str | None = None
    repo: str | None = None
    commit: str | None = None
    pipeline_url: str | None = None


class DevDeploymentStarted(Event, frozen=True, tag="dev-deployment-started"):
    """A deployment of a service version began."""

    data: DeploymentStartedData
    horizon: ClassVar[Horizon] = Horizon.TACTICAL


class DeploymentCompletedData(EventData, frozen=True):
    service: str
    version: str
    environment: str | None = None
    deployment_id: EventId | None = None
    repo: str | None = None
    commit: str | None = None
    duration_s: float | None = None
    rollback_path: str | None = None


class DevDeploymentCompleted(Event, frozen=True, tag="dev-deployment-completed"):
    """A service version is deployed."""

    data: DeploymentCompletedData
    horizon: ClassVar[Horizon] = Horizon.TACTICAL


class DeploymentFailedData(EventData, frozen=True):
    service: str
    version: str | None = None
    environment: str | None = None
    deployment_id: EventId | None = None
    error: str | None = None


class DevDeploymentFailed(Event, frozen=True, tag="dev-deployment-failed"):
    """A deployment did not finish."""

    data: DeploymentFailedData
    horizon: ClassVar[Horizon] = Horizon.TACTICAL


class DeploymentRolledBackData(EventData, frozen=True):
    service: str
    from_version: str | None = None
    to_version: str | None = None
    environment: str | None = None
    deployment_id: EventId | None = None
    reason: str | None = None


class DevDeploymentRolledBack(Event, frozen=True, tag="dev-deployment-rolled-back"):
    """A deployed version was replaced by an earlier one."""

    data: DeploymentRolledBackData
    horizon: ClassVar[Horizon] = Horizon.TACTICAL


class BlockerRaisedData(EventData, frozen=True):
    title: str
    severity: Severity = "medium"
    blocking: list[str] = []  # workstreams, tasks or repos held up
    description: str | None = None
    cause_event_id: EventId | None = None  # e.g. the ops incident that became this blocker


class DevBlockerRaised(Event, frozen=True, tag="dev-blocker-raised"):
    """Work cannot go on until something is cleared."""

    data: BlockerRaisedData
    horizon: ClassVar[Horizon] = Horizon.TACTICAL


class BlockerClearedData(EventData, frozen=True):
    blocker_id: EventId
    resolution: str | None = None


class DevBlockerCleared(Event, frozen=True, tag="dev-blocker-cleared"):
    """A blocker no longer holds work up."""

    data: BlockerClearedData
    horizon: ClassVar[Horizon] = Horizon.TACTICAL


class DecisionRecordedData(EventData, frozen=True):
    title: str
    decision: str
    rationale: str | None = None
    alternatives: list[str] = []
    status: DecisionStatus = "accepted"
    supersedes: EventId | None = None


class DevDecisionRecorded(Event, frozen=True, tag="dev-decision-recorded"):
    """A decision and why it was taken."""

    data: DecisionRecordedData
    horizon: ClassVar[Horizon] = Horizon.TACTICAL


class RepoRegisteredData(EventData, frozen=True):
    name: str
    url: str | None = None
    domain: str | None = None
    default_branch: str | None = None
    path: str | None = None  # a local checkout, where one matters


class DevRepoRegistered(Event, frozen=True, tag="dev-repo-registered"):
    """A repository came under the hub's management."""

    data: RepoRegisteredData
    horizon: ClassVar[Horizon] = Horizon.TACTICAL


class RepoPushedData(EventData, frozen=True):
    repo: str
    ref: str
    after: str  # the commit the ref points at now
    before: str | None = None
    commits: int = 0
    pusher: str | None = None
    compare_url: str | None = None


class DevRepoPushed(Event, frozen=True, tag="dev-repo-pushed"):
    """Commits reached a branch or tag of a repository (the forge's push webhook)."""

    data: RepoPushedData
    horizon: ClassVar[Horizon] = Horizon.TACTICAL


class ReleasePublishedData(EventData, frozen=True):
    repo: str
    tag: str
    name: str | None = None
    url: str | None = None
    commit: str | None = None  # what the tag names: a commit or a branch
    prerelease: bool = False


class DevReleasePublished(Event, frozen=True, tag="dev-release-published"):
    """A release of a repository was published (the forge's release webhook)."""

    data: ReleasePublishedData
    horizon: ClassVar[Horizon] = Horizon.TACTICAL
