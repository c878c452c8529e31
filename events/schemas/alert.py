"""alert-*: something needs a person's attention now.

An alert's subject is the entity it is about; acknowledgements and resolutions name the id of the
`alert-raised` event, since one entity can have several alerts open.
"""

from __future__ import annotations

from typing import ClassVar

from vsmesh.events.envelope import Event, EventData, Horizon
from vsmesh.events.schemas.common import EventId, Severity


class AlertRaisedData(EventData, frozen=True):
    title: str
    severity: Severity = "medium"
    description: str | None = None


class AlertRaised(Event, frozen=True, tag="alert-raised"):
    """Attention is needed now."""

    data: AlertRaisedData
    horizon: ClassVar[Horizon] = Horizon.OPERATIONAL


class AlertAcknowledgedData(EventData, frozen=True):
    alert_id: EventId
    note: str | None = None


class AlertAcknowledged(Event, frozen=True, tag="alert-acknowledged"):
    """Someone has taken the alert on."""

    data: AlertAcknowledgedData
    horizon: ClassVar[Horizon] = Horizon.OPERATIONAL


class AlertResolvedData(EventData, frozen=True):
    alert_id: EventId
    resolution: str | None = None


class AlertResolved(Event, frozen=True, tag="alert-resolved"):
    """The alert's cause is gone."""

    data: AlertResolvedData
    horizon: ClassVar[Horizon] = Horizon.OPERATIONAL
