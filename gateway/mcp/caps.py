"""Caps: hard stops on the calls an agent makes under a mandate, counted by the gateway as it allows them.

A mandate's `caps` (events/schemas/canon.py) bound its calls per minute (a sliding window of 60 s) and its
spend per calendar period (UTC minute, hour, day, week or month). Every mandate of a delegation chain counts
each call made under it or under a mandate delegated from it, so a delegate never spends past its delegator's
cap. What a call spends is the argument its operation names as its amount (`Operation(spends=…)`), in the
call's `currency`; a spend in another currency than the cap's cannot be counted against it and is refused.

The counts live in the gateway's memory: a restarted gateway starts them again from zero.
"""

from __future__ import annotations

import datetime as dt
import time
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal

from vsmesh.events.schemas.canon import SpendPeriod

WINDOW_S = 60.0


@dataclass(frozen=True)
class Spend:
    amount: Decimal
    currency: str


def period_key(per: SpendPeriod, now: dt.datetime) -> str:
    """The calendar period `now` falls in, as a key (`2026-12`, `2026-W49`, `2026-12-07`, …)."""
    if per == "week":
        year, week, _ = now.isocalendar()
        return f"{year}-W{week:02d}"
    return now.strftime({"minute": "%Y-%m-%dT%H:%M", "hour": "%Y-%m-%dT%H", "day": "%Y-%m-%d", "month": "%Y-%m"}[per])


@dataclass
class CapMeter:
    """Calls in the last minute and spend per period, per mandate id."""

    _calls: dict[str, deque[float]] = field(default_factory=dict)
    _spent: dict[tuple[str, str], Decimal] = field(default_factory=dict)

    def refusal(self, chain: Iterable, spend: Spend | None, now: dt.datetime, *, count_call: bool) -> str | None:
        """Why this call is past a cap of the chain (None: within every cap). `count_call` weighs the call
        itself against calls per minute (a held call that now runs was counted when it was made)."""
        clock = time.monotonic()
        for m in chain:
            caps = m.caps
            if caps is None:
                continue
            if count_call and caps.calls_per_minute is not None:
                calls = self._window(m.mandate_id, clock)
                if len(calls) >= caps.calls_per_minute:
                    again = WINDOW_S - (clock - calls[0])
                    return (
                        f"cap reached: mandate {m.mandate_id} allows {caps.calls_per_minute} calls per minute; "
                        f"the next is allowed in {again:.0f} s"
                    )
            if spend is not None and caps.spend is not None:
                cap = caps.spend
                if spend.currency != cap.currency:
                    return (
                        f"cap: mandate {m.mandate_id} caps spend in {cap.currency}; a spend in {spend.currency} cannot "
                        "be counted against it (ask a person to record it)"
                    )
                spent = self._spent.get((m.mandate_id, period_key(cap.per, now)), Decimal(0))
                if spent + spend.amount > cap.amount:
                    return (
                        f"cap reached: mandate {m.mandate_id} allows {cap.amount} {cap.currency} per {cap.per}; "
                        f"{spent} spent, {spend.amount} more would pass it"
                    )
        return None

    def count_call(self, chain: Iterable) -> None:
        clock = time.monotonic()
        for m in chain:
            if m.caps is not None and m.caps.calls_per_minute is not None:
                self._window(m.mandate_id, clock).append(clock)

    def charge(self, chain: Iterable, spend: Spend | None, now: dt.datetime) -> None:
        if spend is None:
            return
        for m in chain:
            if m.caps is not None and m.caps.spend is not None:
                key = (m.mandate_id, period_key(m.caps.spend.per, now))
                self._spent[key] = self._spent.get(key, Decimal(0)) + spend.amount

    def _window(self, mandate_id: str, clock: float) -> deque[float]:
        calls = self._calls.setdefault(mandate_id, deque())
        while calls and clock - calls[0] >= WINDOW_S:
            calls.popleft()
        return calls
