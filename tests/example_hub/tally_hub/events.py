"""tally-*: the hub's own event family, added to vsmesh's type registry when the hub is found."""

from __future__ import annotations

from typing import ClassVar

from vsmesh.events.envelope import Event, EventData, Horizon

FAMILY = "tally"  # its types' prefix: `vsmesh schema list` shows it as their family


class CountedData(EventData, frozen=True):
    counter: str
    by: int = 1


class TallyCounted(Event, frozen=True, tag="tally-counted"):
    """A counter went up."""

    data: CountedData
    horizon: ClassVar[Horizon] = Horizon.OPERATIONAL


class TickedData(EventData, frozen=True):
    slot: str  # the minute it stands for, so a second run in that minute stores nothing


class TallyTicked(Event, frozen=True, tag="tally-ticked"):
    """The hub's timed job ran."""

    data: TickedData
    horizon: ClassVar[Horizon] = Horizon.OPERATIONAL
