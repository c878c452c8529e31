"""sec-*: security findings, the exception register and secrets hygiene: sec-hub audits the mesh (VSM S3*).

A finding's subject is `finding/<finding_id>`; its id is stable for one rule (vulnerability or policy rule)
on one package (or resource) of one service, so every report of it folds into the same row. Exceptions
are `exception/<exception_id>`, secret sets `secret-set/<name>` like ops-hub's inventory.
"""

from __future__ import annotations

import datetime as dt
from typing import ClassVar, Literal

from vsmesh.events.envelope import Event, EventData, Horizon
from vsmesh.events.schemas.common import Severity

FindingSource = Literal["trivy", "policy-report", "manual"]


class FindingReportedData(EventData, frozen=True):
    finding_id: str
    service: str
    rule: str  # CVE-2024-1234, or the policy/rule of a PolicyReport
    source: FindingSource = "manual"
    severity: Severity = "medium"
    title: str | None = None
    package: str | None = None  # or the resource a policy result names
    installed_version: str | None = None
    fixed_version: str | None = None
    target: str | None = None  # the image, file or resource the tool scanned
    report: str | None = None  # the digest of the report it came from
    production: bool = False  # the importer said the service runs in production


class SecFindingReported(Event, frozen=True, tag="sec-finding-reported"):
    """A scanner or policy engine reported a finding (again) on a service."""

    data: FindingReportedData
    horizon: ClassVar[Horizon] = Horizon.TACTICAL


class FindingFixedData(EventData, frozen=True):
    finding_id: str
    service: str
    report: str | None = None  # the later report that no longer has it
    note: str | None = None


class SecFindingFixed(Event, frozen=True, tag="sec-finding-fixed"):
    """A later report of the same service and tool no longer has the finding."""

    data: FindingFixedData
    horizon: ClassVar[Horizon] = Horizon.TACTICAL


class ExceptionGrantedData(EventData, frozen=True):
    exception_id: str
    owner: str
    reason: str
    expires_on: dt.date
    finding_id: str | None = None  # one finding, or every finding of `rule` (on `service`, when given)
    rule: str | None = None
    service: str | None = None
    compensating_control: str | None = None


class SecExceptionGranted(Event, frozen=True, tag="sec-exception-granted"):
    """A finding or policy violation is accepted until a date, by an owner, for a reason."""

    data: ExceptionGrantedData
    horizon: ClassVar[Horizon] = Horizon.TACTICAL


class ExceptionExpiredData(EventData, frozen=True):
    exception_id: str
    expires_on: dt.date
    owner: str | None = None


class SecExceptionExpired(Event, frozen=True, tag="sec-exception-expired"):
    """An exception was seen past its expiry (published once per exception and expiry by sec-hub's watch)."""

    data: ExceptionExpiredData
    horizon: ClassVar[Horizon] = Horizon.TACTICAL


class SecretTrackedData(EventData, frozen=True):
    secret_set: str
    owner: str | None = None
    environment: str | None = None


class SecSecretTracked(Event, frozen=True, tag="sec-secret-tracked"):
    """A secret set from ops-hub's inventory is under rotation watch."""

    data: SecretTrackedData
    horizon: ClassVar[Horizon] = Horizon.TACTICAL


class SecretRotatedData(EventData, frozen=True):
    secret_set: str
    rotated_on: dt.date
    note: str | None = None


class SecSecretRotated(Event, frozen=True, tag="sec-secret-rotated"):
    """A secret set was rotated."""

    data: SecretRotatedData
    horizon: ClassVar[Horizon] = Horizon.TACTICAL


class RotationPolicyAdoptedData(EventData, frozen=True):
    policy: str
    max_age_days: int
    version: str | None = None
    policy_event_id: str | None = None


class SecRotationPolicyAdopted(Event, frozen=True, tag="sec-rotation-policy-adopted"):
    """canon declared how old a secret may get; sec judges rotations against the latest."""

    data: RotationPolicyAdoptedData
    horizon: ClassVar[Horizon] = Horizon.TACTICAL
