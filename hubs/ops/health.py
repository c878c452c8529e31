"""Health at read time: observed green/amber/red, degraded by the evidence's age against a clock.

Never stored: the same rows read at a later time may be staler, so a rebuild stays identical.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass

RANK = {"green": 0, "amber": 1, "red": 2}


@dataclass(frozen=True)
class Staleness:
    """When evidence stops counting as fresh: amber after `amber`, red after `red` (minutes)."""

    amber_minutes: float = 60.0
    red_minutes: float = 1440.0

    def effective(self, status: str, at: dt.datetime | None, now: dt.datetime) -> str:
        """The status an observation still supports at `now`."""
        if at is None:
            return worst([status, "amber"])
        age = minutes_between(at, now)
        # A red threshold below the amber one would make amber unreachable; the larger wins.
        if age > max(self.red_minutes, self.amber_minutes):
            return "red"
        if age > self.amber_minutes:
            return worst([status, "amber"])
        return status


def minutes_between(at: dt.datetime, now: dt.datetime) -> float:
    """Age in minutes, never negative (a clock behind an event's time sees it as brand new)."""
    return max(0.0, (now - at).total_seconds() / 60.0)


def worst(statuses: Iterable[str]) -> str:
    """The worst of green/amber/red; unknown words count as amber (not proven healthy)."""
    return max(statuses, key=lambda s: RANK.get(s, 1), default="green")


def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)
