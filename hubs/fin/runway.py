"""Runway arithmetic: pure functions on exact Decimals, no I/O (tested on known numbers).

The projection walks month by month from the month of `as_of`:

    burn(m)  = variable_monthly + Σ commitment.due_in(m)
    balance  -= burn(m)          until the balance cannot pay a whole month,
    runway   = whole months paid + remaining balance / burn of the month it runs out in

`variable_monthly` is the average recorded spend (costs and tokens) of the latest months that have any,
which assumes costs record spend that no commitment already covers. A commitment is due from the month
of `starts_on` to the month of `ends_on` (inclusive, open when unset): monthly as is, quarterly and yearly
spread evenly over their months, `once` in the month of `starts_on` only.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import ROUND_DOWN, Decimal

MONTHS_PER_CADENCE = {"monthly": 1, "quarterly": 3, "yearly": 12}
HORIZON_MONTHS = 120  # beyond ten years the answer is "more than the horizon", not a number
CENTS = Decimal("0.01")


def month_start(day: dt.date) -> dt.date:
    return day.replace(day=1)


def add_months(month: dt.date, n: int) -> dt.date:
    """The first day of the month `n` months after `month`'s."""
    index = month.year * 12 + month.month - 1 + n
    return dt.date(index // 12, index % 12 + 1, 1)


@dataclass(frozen=True)
class Commitment:
    """Money promised per cadence, between optional start and end dates."""

    amount: Decimal
    cadence: str = "monthly"  # once | monthly | quarterly | yearly
    starts_on: dt.date | None = None
    ends_on: dt.date | None = None

    def due_in(self, month: dt.date) -> Decimal:
        """What this commitment costs in the month starting at `month`."""
        if self.cadence == "once":
            return self.amount if self.starts_on and month_start(self.starts_on) == month else Decimal(0)
        if self.starts_on and month < month_start(self.starts_on):
            return Decimal(0)
        if self.ends_on and month > month_start(self.ends_on):
            return Decimal(0)
        return self.amount / MONTHS_PER_CADENCE[self.cadence]


@dataclass(frozen=True)
class Runway:
    """How long the money lasts; `months` is None when it outlasts the horizon."""

    months: Decimal | None
    monthly_burn: Decimal  # the burn of the first projected month
    committed_monthly: Decimal  # the commitments' part of it


def committed_in(commitments: Sequence[Commitment], month: dt.date) -> Decimal:
    return sum((c.due_in(month) for c in commitments), Decimal(0))


def project_runway(
    balance: Decimal,
    variable_monthly: Decimal,
    commitments: Sequence[Commitment],
    as_of: dt.date,
    horizon: int = HORIZON_MONTHS,
) -> Runway:
    """Months the balance pays for at the projected burn, rounded down to cents of a month."""
    first = month_start(as_of)
    committed = committed_in(commitments, first)
    left = balance
    months: Decimal | None = None
    if left <= 0:
        months = Decimal(0)
    for i in range(horizon if months is None else 0):
        burn = variable_monthly + committed_in(commitments, add_months(first, i))
        if burn > 0 and burn >= left:
            months = (i + left / burn).quantize(CENTS, rounding=ROUND_DOWN)
            break
        left -= burn
    return Runway(months=months, monthly_burn=variable_monthly + committed, committed_monthly=committed)


def variable_monthly(spend_by_month: Mapping[str, Decimal], as_of: dt.date, window: int = 3) -> Decimal:
    """Average spend of the latest `window` months with any spend, up to `as_of`'s month ("YYYY-MM" keys)."""
    latest = month_key(as_of)
    months = sorted(m for m in spend_by_month if m <= latest)[-window:]
    if not months:
        return Decimal(0)
    return sum((spend_by_month[m] for m in months), Decimal(0)) / len(months)


def month_key(day: dt.date) -> str:
    return f"{day.year:04d}-{day.month:02d}"


def period_months(period: str) -> list[str]:
    """The months ("YYYY-MM") a budget period covers: `2026-11`, `2026-Q4` or `2026`; else none."""
    p = period.strip().upper()
    if len(p) == 7 and p[4] == "-" and p[:4].isdigit() and p[5:].isdigit() and 1 <= int(p[5:]) <= 12:
        return [p]
    if len(p) == 7 and p[4:6] == "-Q" and p[:4].isdigit() and p[6] in "1234":
        first = (int(p[6]) - 1) * 3 + 1
        return [f"{p[:4]}-{m:02d}" for m in range(first, first + 3)]
    if len(p) == 4 and p.isdigit():
        return [f"{p}-{m:02d}" for m in range(1, 13)]
    return []
