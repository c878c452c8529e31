"""fin-*: budgets, commitments, costs, balances and runway; kept ten years.

Money is `{"amount": "12.30", "currency": "EUR"}`: an exact decimal string plus an ISO 4217 code
(`common.Money`). Periods are strings such as `2026-11` or `2026-Q4`.
"""

from __future__ import annotations

import datetime as dt
from typing import ClassVar, Literal

from vsmesh.events.envelope import Event, EventData, Horizon
from vsmesh.events.schemas.common import EventId, Money, Severity

CommitmentKind = Literal["subscription", "contract", "salary", "other"]
Cadence = Literal["once", "monthly", "quarterly", "yearly"]


class BudgetAllocatedData(EventData, frozen=True):
    domain: str
    period: str
    amount: Money
    category: str | None = None


class FinBudgetAllocated(Event, frozen=True, tag="fin-budget-allocated"):
    """A domain was given a budget for a period."""

    data: BudgetAllocatedData
    horizon: ClassVar[Horizon] = Horizon.STRATEGIC


class CommitmentRecordedData(EventData, frozen=True):
    kind: CommitmentKind
    amount: Money  # per cadence
    cadence: Cadence = "monthly"
    counterparty: str | None = None
    domain: str | None = None
    starts_on: dt.date | None = None
    ends_on: dt.date | None = None


class FinCommitmentRecorded(Event, frozen=True, tag="fin-commitment-recorded"):
    """Money promised ahead: a subscription, a contract, a salary."""

    data: CommitmentRecordedData
    horizon: ClassVar[Horizon] = Horizon.STRATEGIC


class CostRecordedData(EventData, frozen=True):
    amount: Money
    domain: str | None = None
    service: str | None = None  # per-service attribution, shown in ops
    category: str | None = None  # cloud, hosting, licence, …
    vendor: str | None = None
    period: str | None = None
    incurred_on: dt.date | None = None


class FinCostRecorded(Event, frozen=True, tag="fin-cost-recorded"):
    """Money was spent."""

    data: CostRecordedData
    horizon: ClassVar[Horizon] = Horizon.STRATEGIC


class CostCorrectedData(CostRecordedData, kw_only=True, frozen=True):
    """The figure a source now reports for a cost it reported before; every field as the source now has it."""

    corrects: EventId  # the `fin-cost-recorded` event whose figure this replaces
    previous: Money | None = None  # the figure it replaces, for a reader of the log alone


class FinCostCorrected(Event, frozen=True, tag="fin-cost-corrected"):
    """A source revised a cost it reported: the cost now counts at this figure, not the earlier one."""

    data: CostCorrectedData
    horizon: ClassVar[Horizon] = Horizon.STRATEGIC


class TokenSpendRecordedData(EventData, frozen=True):
    provider: str  # anthropic, openai, …
    model: str
    tokens_in: int
    tokens_out: int
    cost: Money
    session_id: str | None = None
    domain: str | None = None


class FinTokenSpendRecorded(Event, frozen=True, tag="fin-token-spend-recorded"):
    """Model tokens were used and what they cost."""

    data: TokenSpendRecordedData
    horizon: ClassVar[Horizon] = Horizon.STRATEGIC


class BalanceRecordedData(EventData, frozen=True):
    balance: Money
    account: str | None = None
    as_of: dt.date | None = None


class FinBalanceRecorded(Event, frozen=True, tag="fin-balance-recorded"):
    """An account's balance at a date."""

    data: BalanceRecordedData
    horizon: ClassVar[Horizon] = Horizon.STRATEGIC


class BudgetAlertRaisedData(EventData, frozen=True):
    domain: str
    period: str | None = None
    budget: Money | None = None
    spent: Money | None = None
    threshold_pct: float | None = None
    severity: Severity = "medium"
    message: str | None = None


class FinBudgetAlertRaised(Event, frozen=True, tag="fin-budget-alert-raised"):
    """Spending crossed a threshold of a budget."""

    data: BudgetAlertRaisedData
    horizon: ClassVar[Horizon] = Horizon.STRATEGIC


class RunwayProjectedData(EventData, frozen=True):
    balance: Money
    monthly_burn: Money
    months_remaining: float
    alert_threshold_months: float | None = None
    method: str | None = None  # how the burn was projected


class FinRunwayProjected(Event, frozen=True, tag="fin-runway-projected"):
    """How many months the money lasts at the projected burn."""

    data: RunwayProjectedData
    horizon: ClassVar[Horizon] = Horizon.STRATEGIC
