"""Caps: hard stops on the calls an agent makes under a mandate, counted by the gateway as it allows them.

A mandate's `caps` (events/schemas/canon.py) bound its calls per minute (a sliding window of 60 s) and its
spend per calendar period (UTC minute, hour, day, week or month). Every mandate of a delegation chain counts
each call made under it or under a mandate delegated from it, so a delegate never spends past its delegator's
cap. What a call spends is the argument its operation names as its amount (`Operation(spends=…)`), in the
call's `currency`; a spend in another currency than the cap's cannot be counted against it and is refused.

The gateway decides from the counts in its memory; gateway/mcp/cap_store.py keeps a copy in a key-value bucket
(`snapshot`/`restore`), so a restarted gateway goes on counting where it stopped. The window is on the wall clock,
so the calls of the minute before a restart still count after it.
"""

from __future__ import annotations

import datetime as dt
import time
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

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
class CallWindow:
    """A mandate's calls of the last minute, counted by the second: a call counts until its second has ended
    60 s ago (a minute at least, a second more at most), so the window is at most 61 pairs however many calls."""

    seconds: deque[list[int]] = field(default_factory=deque)  # [epoch second, calls in it], oldest first
    total: int = 0

    def expire(self, clock: float) -> CallWindow:
        while self.seconds and self.seconds[0][0] + 1 + WINDOW_S <= clock:
            self.total -= self.seconds.popleft()[1]
        return self

    def add(self, clock: float) -> None:
        second = int(clock)
        if self.seconds and self.seconds[-1][0] == second:
            self.seconds[-1][1] += 1
        else:
            self.seconds.append([second, 1])
        self.total += 1

    def free_in(self, clock: float) -> float:
        """Seconds until the oldest counted call leaves the window."""
        return self.seconds[0][0] + 1 + WINDOW_S - clock


@dataclass
class CapMeter:
    """Calls in the last minute and spend per period, per mandate id."""

    _calls: dict[str, CallWindow] = field(default_factory=dict)
    _spent: dict[str, tuple[str, Decimal]] = field(default_factory=dict)  # mandate id -> (period, spent in it)

    def refusal(self, chain: Iterable, spend: Spend | None, now: dt.datetime, *, count_call: bool) -> str | None:
        """Why this call is past a cap of the chain (None: within every cap). `count_call` weighs the call
        itself against calls per minute (a held call that now runs was counted when it was made)."""
        clock = time.time()
        for m in chain:
            caps = m.caps
            if caps is None:
                continue
            if count_call and caps.calls_per_minute is not None:
                calls = self._window(m.mandate_id, clock)
                if calls.total >= caps.calls_per_minute:
                    again = calls.free_in(clock)
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
                spent = self.spent(m.mandate_id, period_key(cap.per, now))
                if spent + spend.amount > cap.amount:
                    return (
                        f"cap reached: mandate {m.mandate_id} allows {cap.amount} {cap.currency} per {cap.per}; "
                        f"{spent} spent, {spend.amount} more would pass it"
                    )
        return None

    def spent(self, mandate_id: str, period: str) -> Decimal:
        found = self._spent.get(mandate_id)
        return found[1] if found is not None and found[0] == period else Decimal(0)

    def count_call(self, chain: Iterable) -> None:
        clock = time.time()
        for m in chain:
            if m.caps is not None and m.caps.calls_per_minute is not None:
                self._window(m.mandate_id, clock).add(clock)

    def charge(self, chain: Iterable, spend: Spend | None, now: dt.datetime, *, sign: int = 1) -> None:
        """Count `spend` against every spend cap of the chain (`sign=-1`: give back a call that did not run)."""
        if spend is None:
            return
        for m in chain:
            if m.caps is not None and m.caps.spend is not None:
                period = period_key(m.caps.spend.per, now)
                self._spent[m.mandate_id] = (period, self.spent(m.mandate_id, period) + sign * spend.amount)

    def snapshot(self, mandate_id: str) -> dict[str, Any]:
        """A mandate's counts as plain data: its calls per second of the last minute, its spend in its period."""
        found: dict[str, Any] = {"calls": [list(p) for p in self._window(mandate_id, time.time()).seconds]}
        if mandate_id in self._spent:
            period, amount = self._spent[mandate_id]
            found["spent"] = {"period": period, "amount": str(amount)}
        return found

    def restore(self, mandate_id: str, snapshot: dict[str, Any]) -> None:
        """The counts a snapshot holds, in place of this meter's for the mandate."""
        pairs = [[int(second), int(n)] for second, n in snapshot.get("calls", [])]
        self._calls[mandate_id] = CallWindow(deque(pairs), sum(n for _, n in pairs))
        if spent := snapshot.get("spent"):
            self._spent[mandate_id] = (spent["period"], Decimal(spent["amount"]))

    def _window(self, mandate_id: str, clock: float) -> CallWindow:
        return self._calls.setdefault(mandate_id, CallWindow()).expire(clock)
