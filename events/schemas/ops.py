"""ops-*: the operational inventory and the evidence that it is healthy.

Entities are CloudEvents subjects (`service/gitea`, `endpoint/gitea.coulomb.social`, `incident/…`);
follow-up events of an incident name the id of the `ops-incident-opened` event that opened it.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, ClassVar, Literal

from vsmesh.events.envelope import Event, EventData, Horizon
from vsmesh.events.schemas.common import EventId, Rag, Severity

HealthStatus = Rag
GateStatus = Rag
Verdict = Literal["passed", "failed"]
RunOutcome = Literal["succeeded", "failed", "aborted"]
IncidentStatus = Literal["open", "investigating", "mitigated", "resolved"]

# What an operator must know runs somewhere, from environments down to backups, secrets and runbooks, the paths
# by which people reach it, and the gates and waves of a migration. v1 wrote these with an `ops-` prefix too
# (upcasters.py).
InventoryKind = Literal[
    "environment",
    "host",
    "cluster",
    "service",
    "endpoint",
    "datastore",
    "release",
    "backup-set",
    "secret-set",
    "runbook",
    "access-path",
    "readiness-gate",
    "migration-wave",
    "other",
]


class InventoryRegisteredData(EventData, frozen=True):
    """v2: `kind` is a closed vocabulary; v1's free text is upcast (see events/upcasters.py)."""

    kind: InventoryKind
    name: str
    kind_detail: str | None = None  # a refinement of `kind`, e.g. "object-store"; v1 kinds outside the vocabulary
    environment: str | None = None
    owner: str | None = None
    attributes: dict[str, Any] = {}


class OpsInventoryRegistered(Event, frozen=True, tag="ops-inventory-registered"):
    """An entity of the ops inventory (service, host, endpoint, …) came to be known."""

    data: InventoryRegisteredData
    horizon: ClassVar[Horizon] = Horizon.OPERATIONAL
    version: ClassVar[int] = 2


class InventoryUpdatedData(EventData, frozen=True):
    """Only the fields given change; `attributes` are merged, `removed_attributes` dropped."""

    name: str | None = None
    environment: str | None = None
    owner: str | None = None
    attributes: dict[str, Any] = {}
    removed_attributes: list[str] = []


class OpsInventoryUpdated(Event, frozen=True, tag="ops-inventory-updated"):
    """A known inventory entity changed."""

    data: InventoryUpdatedData
    horizon: ClassVar[Horizon] = Horizon.OPERATIONAL


class InventoryRetiredData(EventData, frozen=True):
    reason: str | None = None
    replaced_by: str | None = None  # the successor's subject, e.g. service/gitea-threephoenix


class OpsInventoryRetired(Event, frozen=True, tag="ops-inventory-retired"):
    """An inventory entity no longer exists or is no longer operated."""

    data: InventoryRetiredData
    horizon: ClassVar[Horizon] = Horizon.OPERATIONAL


class ServiceDiscoveredData(EventData, frozen=True):
    name: str
    method: str | None = None  # how it was found: k8s-api, ops-bridge, dns, …
    environment: str | None = None
    host: str | None = None
    namespace: str | None = None
    endpoints: list[str] = []
    attributes: dict[str, Any] = {}


class OpsServiceDiscovered(Event, frozen=True, tag="ops-service-discovered"):
    """A probe found a running service, catalogued or not."""

    data: ServiceDiscoveredData
    horizon: ClassVar[Horizon] = Horizon.OPERATIONAL


class InventorySeenData(EventData, frozen=True):
    """Entities a source saw running at the event's time: their `last_seen` in the inventory."""

    entities: list[str]  # subjects, e.g. service/gitea
    method: str | None = None  # how they were seen: k8s-api, …


class OpsInventorySeen(Event, frozen=True, tag="ops-inventory-seen"):
    """Known inventory entities were seen where they run (one event for many, not one per entity and pull)."""

    data: InventorySeenData
    horizon: ClassVar[Horizon] = Horizon.OPERATIONAL


class HealthCheckedData(EventData, frozen=True):
    status: HealthStatus
    observations: dict[str, Any] = {}


class OpsHealthChecked(Event, frozen=True, tag="ops-health-checked"):
    """Evidence of an entity's health at one moment."""

    data: HealthCheckedData
    horizon: ClassVar[Horizon] = Horizon.OPERATIONAL


class ReleaseObservedData(EventData, frozen=True):
    release: str  # e.g. the Helm release `gitea`
    version: str | None = None
    chart: str | None = None
    app_version: str | None = None
    namespace: str | None = None
    environment: str | None = None
    revision: int | None = None
    images: list[str] = []


class OpsReleaseObserved(Event, frozen=True, tag="ops-release-observed"):
    """A release was seen running where it is deployed."""

    data: ReleaseObservedData
    horizon: ClassVar[Horizon] = Horizon.OPERATIONAL


class EndpointVerifiedData(EventData, frozen=True):
    """What was asked of an endpoint and what it answered; `observed_status` is None when nothing answered."""

    endpoint: str
    expected_status: int
    observed_status: int | None = None
    method: str = "GET"
    expected_headers: dict[str, str] = {}
    observed_headers: dict[str, str] = {}
    latency_ms: float | None = None
    tls_expires_at: dt.datetime | None = None
    error: str | None = None
    # A probe's verdict over all of its conditions (body, response time, certificate …), which status and
    # headers alone cannot show; None for a check that only compared status and headers.
    verdict: Verdict | None = None

    @property
    def passed(self) -> bool:
        """The probe's verdict when it gave one; else status as expected and every expected header present
        with its value (names case-insensitive)."""
        if self.verdict is not None:
            return self.verdict == "passed"
        seen = {k.lower(): v for k, v in self.observed_headers.items()}
        headers_ok = all(seen.get(k.lower()) == v for k, v in self.expected_headers.items())
        return self.observed_status == self.expected_status and headers_ok


class OpsEndpointVerified(Event, frozen=True, tag="ops-endpoint-verified"):
    """An endpoint was probed against its expected answer (e.g. the Gitea registry's `/v2` auth challenge)."""

    data: EndpointVerifiedData
    horizon: ClassVar[Horizon] = Horizon.OPERATIONAL


class BackupVerifiedData(EventData, frozen=True):
    backup_set: str
    verdict: Verdict
    taken_at: dt.datetime | None = None
    size_bytes: int | None = None
    location: str | None = None
    tool: str | None = None
    detail: str | None = None


class OpsBackupVerified(Event, frozen=True, tag="ops-backup-verified"):
    """A backup set was checked to exist, be recent and be readable."""

    data: BackupVerifiedData
    horizon: ClassVar[Horizon] = Horizon.OPERATIONAL


class RestoreTestedData(EventData, frozen=True):
    backup_set: str
    verdict: Verdict
    target: str | None = None  # where it was restored to
    duration_s: float | None = None
    data_verified: bool | None = None
    detail: str | None = None


class OpsRestoreTested(Event, frozen=True, tag="ops-restore-tested"):
    """A backup was restored somewhere to prove it can be."""

    data: RestoreTestedData
    horizon: ClassVar[Horizon] = Horizon.OPERATIONAL


class RunbookExecutedData(EventData, frozen=True):
    runbook: str
    outcome: RunOutcome
    steps: list[str] = []
    trigger: str | None = None
    duration_s: float | None = None
    detail: str | None = None


class OpsRunbookExecuted(Event, frozen=True, tag="ops-runbook-executed"):
    """A runbook, or some of its steps, was run."""

    data: RunbookExecutedData
    horizon: ClassVar[Horizon] = Horizon.OPERATIONAL


class DriftDetectedData(EventData, frozen=True):
    summary: str
    desired: Any = None
    actual: Any = None
    source_of_truth: str | None = None  # the repo path that declares the desired state
    severity: Severity = "medium"
    # True: what runs matches the declaration again (desired == actual); the drift reported before is over.
    resolved: bool = False


class OpsDriftDetected(Event, frozen=True, tag="ops-drift-detected"):
    """What runs differs from what the owning repo declares (or, `resolved`, no longer differs)."""

    data: DriftDetectedData
    horizon: ClassVar[Horizon] = Horizon.OPERATIONAL


class ReadinessGateUpdatedData(EventData, frozen=True):
    gate: str
    status: GateStatus
    owner_repo: str | None = None
    evidence_required: str | None = None
    evidence_event_ids: list[str] = []
    migration_wave: str | None = None
    note: str | None = None


class OpsReadinessGateUpdated(Event, frozen=True, tag="ops-readiness-gate-updated"):
    """A readiness gate's status changed, with the evidence behind it: a migration wave moves production only
    once its gates are green."""

    data: ReadinessGateUpdatedData
    horizon: ClassVar[Horizon] = Horizon.OPERATIONAL


class MigrationGatePassedData(EventData, frozen=True):
    wave: str
    gate: str
    evidence_event_ids: list[str] = []
    note: str | None = None


class OpsMigrationGatePassed(Event, frozen=True, tag="ops-migration-gate-passed"):
    """A migration wave passed one of its gates."""

    data: MigrationGatePassedData
    horizon: ClassVar[Horizon] = Horizon.OPERATIONAL


class MigrationGateFailedData(EventData, frozen=True):
    wave: str
    gate: str
    reason: str | None = None
    evidence_event_ids: list[str] = []


class OpsMigrationGateFailed(Event, frozen=True, tag="ops-migration-gate-failed"):
    """A migration wave failed one of its gates."""

    data: MigrationGateFailedData
    horizon: ClassVar[Horizon] = Horizon.OPERATIONAL


class IncidentOpenedData(EventData, frozen=True):
    title: str
    severity: Severity = "medium"
    description: str | None = None
    affected: list[str] = []  # subjects of the affected entities
    commander: str | None = None


class OpsIncidentOpened(Event, frozen=True, tag="ops-incident-opened"):
    """Something is broken for users or at risk of it; someone is on it."""

    data: IncidentOpenedData
    horizon: ClassVar[Horizon] = Horizon.OPERATIONAL


class IncidentUpdatedData(EventData, frozen=True):
    incident_id: EventId
    status: IncidentStatus | None = None
    severity: Severity | None = None
    note: str | None = None
    affected: list[str] = []


class OpsIncidentUpdated(Event, frozen=True, tag="ops-incident-updated"):
    """An open incident's status, severity or timeline moved."""

    data: IncidentUpdatedData
    horizon: ClassVar[Horizon] = Horizon.OPERATIONAL


class IncidentResolvedData(EventData, frozen=True):
    incident_id: EventId
    resolution: str | None = None
    root_cause: str | None = None
    postmortem: str | None = None  # a link


class OpsIncidentResolved(Event, frozen=True, tag="ops-incident-resolved"):
    """An incident is over."""

    data: IncidentResolvedData
    horizon: ClassVar[Horizon] = Horizon.OPERATIONAL


class ChangeRecordedData(EventData, frozen=True):
    """What changed; when and by whom are the event's `time` and `actor`."""

    summary: str
    change_kind: str | None = None  # deployment, config, infrastructure, …
    environment: str | None = None
    version: str | None = None
    rollback_path: str | None = None
    reference: str | None = None  # e.g. the dev deployment or pull request it came from


class OpsChangeRecorded(Event, frozen=True, tag="ops-change-recorded"):
    """A change to the running estate, for the change log."""

    data: ChangeRecordedData
    horizon: ClassVar[Horizon] = Horizon.OPERATIONAL
