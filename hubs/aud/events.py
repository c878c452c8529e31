"""aud-*: findings the audit raises about the mesh, and their resolution; added to the type registry when the
hub is found (its `Hub.schemas`).

A finding's subject is `finding/<finding_id>`; the id names the check and what it is about (`chain/CONSTITUTIONAL`,
`rebuild/ops-hub/inventory`, `mandates/<event id>`, `freshness/service/gitea`), so every raise and resolution of one
finding folds into one row. Constitutional: the audit reports to the policy level (canon), and its record is
chained and kept for ever like the rest of that level's.
"""

from __future__ import annotations

from typing import Any, ClassVar

from vsmesh.events.envelope import Event, EventData, Horizon
from vsmesh.events.schemas.common import Severity

FAMILY = "aud"


class FindingRaisedData(EventData, frozen=True):
    finding_id: str
    check: str  # chain | rebuild | mandates | freshness
    title: str
    severity: Severity = "medium"
    evidence: dict[str, Any] = {}  # what the check read and saw: rows that differ, the event, the break
    digest: str = ""  # of the evidence: a raise is published again only when what was seen changed


class AudFindingRaised(Event, frozen=True, tag="aud-finding-raised"):
    """An audit check found something wrong (or found it again, changed)."""

    data: FindingRaisedData
    horizon: ClassVar[Horizon] = Horizon.CONSTITUTIONAL


class FindingResolvedData(EventData, frozen=True):
    finding_id: str
    check: str
    reason: str  # what the check saw instead
    raised_event_id: str | None = None  # the raise it ends


class AudFindingResolved(Event, frozen=True, tag="aud-finding-resolved"):
    """A check that had found something wrong found it right again."""

    data: FindingResolvedData
    horizon: ClassVar[Horizon] = Horizon.CONSTITUTIONAL
