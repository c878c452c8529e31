"""rollup-*: what a horizon's events meant, kept on a longer horizon before they age out (hubs/ops/rollup.py).

Rollups are derived: each is a function of the events it summarises, with an id from its key, so deriving it
again gives the same event and publishes nothing new.
"""

from __future__ import annotations

import datetime as dt
from typing import ClassVar

from vsmesh.events.envelope import Event, EventData, Horizon


class ServiceDayData(EventData, frozen=True):
    """One service's operational day."""

    service: str
    day: dt.date
    checks: dict[str, int] = {}  # health checks by status (green, amber, red)
    health_share: dict[str, float] = {}  # each status's share of the checks, 0..1
    incidents_opened: int = 0  # incidents naming the service among their affected entities
    changes: int = 0  # change records of the service


class RollupServiceDay(Event, frozen=True, tag="rollup-service-day"):
    """A service's operational day, rolled up to the tactical horizon before its events age out."""

    data: ServiceDayData
    horizon: ClassVar[Horizon] = Horizon.TACTICAL
