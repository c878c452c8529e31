"""ops-*: the operational inventory and the evidence that it is healthy (seed 002)."""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from vsmesh.events.envelope import Event, EventData, Horizon

HealthStatus = Literal["green", "amber", "red"]


class InventoryRegisteredData(EventData, frozen=True):
    kind: str
    name: str
    environment: str | None = None
    owner: str | None = None
    attributes: dict[str, Any] = {}


class OpsInventoryRegistered(Event, frozen=True, tag="ops-inventory-registered"):
    """An entity of the ops inventory (service, host, endpoint, …) came to be known."""

    data: InventoryRegisteredData
    horizon: ClassVar[Horizon] = Horizon.OPERATIONAL


class HealthCheckedData(EventData, frozen=True):
    status: HealthStatus
    observations: dict[str, Any] = {}


class OpsHealthChecked(Event, frozen=True, tag="ops-health-checked"):
    """Evidence of an entity's health at one moment."""

    data: HealthCheckedData
    horizon: ClassVar[Horizon] = Horizon.OPERATIONAL
