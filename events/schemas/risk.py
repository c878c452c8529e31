"""risk-*: something that may go wrong, weeks to quarters ahead; every hub answers `get_risks` for its own.

A risk's subject is the entity at risk; later events name the id of the `risk-surfaced` event.
"""

from __future__ import annotations

import datetime as dt
from typing import ClassVar, Literal

from vsmesh.events.envelope import Event, EventData, Horizon
from vsmesh.events.schemas.common import EventId, Severity

Likelihood = Literal["rare", "unlikely", "possible", "likely", "almost-certain"]


class RiskSurfacedData(EventData, frozen=True):
    title: str
    severity: Severity = "medium"
    likelihood: Likelihood | None = None
    category: str | None = None  # an annotation category, e.g. ops-migration-risk
    description: str | None = None
    owner: str | None = None


class RiskSurfaced(Event, frozen=True, tag="risk-surfaced"):
    """A risk was noticed and named."""

    data: RiskSurfacedData
    horizon: ClassVar[Horizon] = Horizon.TACTICAL


class RiskMitigatedData(EventData, frozen=True):
    risk_id: EventId
    mitigation: str | None = None
    residual_severity: Severity | None = None


class RiskMitigated(Event, frozen=True, tag="risk-mitigated"):
    """Something was done that lowers the risk."""

    data: RiskMitigatedData
    horizon: ClassVar[Horizon] = Horizon.TACTICAL


class RiskEscalatedData(EventData, frozen=True):
    risk_id: EventId
    escalated_to: str  # a hub slug or a person
    reason: str | None = None


class RiskEscalated(Event, frozen=True, tag="risk-escalated"):
    """The risk is beyond its owner's mandate and goes up."""

    data: RiskEscalatedData
    horizon: ClassVar[Horizon] = Horizon.TACTICAL


class RiskAcceptedData(EventData, frozen=True):
    risk_id: EventId
    rationale: str
    review_by: dt.date | None = None


class RiskAccepted(Event, frozen=True, tag="risk-accepted"):
    """Someone with the mandate chose to live with the risk, and said why."""

    data: RiskAcceptedData
    horizon: ClassVar[Horizon] = Horizon.TACTICAL
