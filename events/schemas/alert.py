"""alert-*: something needs a person's attention now."""

from __future__ import annotations

from typing import ClassVar, Literal

from vsmesh.events.envelope import Event, EventData, Horizon

Severity = Literal["info", "low", "medium", "high", "critical"]


class AlertRaisedData(EventData, frozen=True):
    title: str
    severity: Severity = "medium"
    description: str | None = None


class AlertRaised(Event, frozen=True, tag="alert-raised"):
    data: AlertRaisedData
    horizon: ClassVar[Horizon] = Horizon.OPERATIONAL
