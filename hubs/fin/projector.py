"""fin-hub's handlers: pure folds of one event into the batch's changes."""

from __future__ import annotations

import datetime as dt
from typing import Any

from vsmesh.events.envelope import Event
from vsmesh.events.schemas.fin import (
    FinBalanceRecorded,
    FinBudgetAlertRaised,
    FinBudgetAllocated,
    FinCommitmentRecorded,
    FinCostCorrected,
    FinCostRecorded,
    FinRunwayProjected,
    FinTokenSpendRecorded,
)
from vsmesh.hubs.core import hub_projection
from vsmesh.hubs.fin import manifest
from vsmesh.hubs.fin.runway import month_key, period_months
from vsmesh.hubs.fin.tables import (
    agent_spend,
    balances,
    budget_alerts,
    budget_allocations,
    commitments,
    costs,
    metadata,
    runway_projections,
    token_spend,
)
from vsmesh.projectors.engine.changes import Changes
from vsmesh.projectors.engine.projection import Applied, Handlers, Projection


def spend_month(event: Event, incurred_on: dt.date | None, period: str | None) -> str:
    """The month spend counts in: its date, else a one-month period, else when it was recorded."""
    if incurred_on is not None:
        return month_key(incurred_on)
    months = period_months(period or "")
    return months[0] if len(months) == 1 else month_key(event.time.date())


def _metadata_date(meta: dict[str, Any], key: str) -> dt.date | None:
    # Token spend has no date field: an importer may say when in metadata.incurred_on.
    try:
        return dt.date.fromisoformat(str(meta[key])) if meta.get(key) else None
    except ValueError:
        return None


def on_budget_allocated(event: FinBudgetAllocated, at: Applied, changes: Changes) -> None:
    d = event.data
    changes.upsert(
        budget_allocations,
        {
            "event_id": event.id,
            "domain": d.domain,
            "period": d.period,
            "category": d.category,
            "amount": d.amount.amount,
            "currency": d.amount.currency,
            "allocated_at": event.time,
        },
    )


def on_commitment_recorded(event: FinCommitmentRecorded, at: Applied, changes: Changes) -> None:
    d = event.data
    changes.upsert(
        commitments,
        {
            "event_id": event.id,
            "kind": d.kind,
            "cadence": d.cadence,
            "amount": d.amount.amount,
            "currency": d.amount.currency,
            "counterparty": d.counterparty,
            "domain": d.domain,
            "starts_on": d.starts_on,
            "ends_on": d.ends_on,
            "recorded_at": event.time,
        },
    )


def on_cost_recorded(event: FinCostRecorded | FinCostCorrected, at: Applied, changes: Changes) -> None:
    d = event.data
    description = d.metadata.get("description")
    corrected = isinstance(event, FinCostCorrected)
    changes.upsert(
        costs,
        {
            # A correction replaces the figure in the row of the cost it corrects: the cost counts once.
            "event_id": event.data.corrects if corrected else event.id,  # type: ignore[union-attr]
            "corrected_by": event.id if corrected else None,
            "amount": d.amount.amount,
            "currency": d.amount.currency,
            "domain": d.domain,
            "service": d.service,
            "category": d.category,
            "vendor": d.vendor,
            "period": d.period,
            "month": spend_month(event, d.incurred_on, d.period),
            "incurred_on": d.incurred_on,
            "description": str(description) if description else None,
        },
    )


def on_token_spend_recorded(event: FinTokenSpendRecorded, at: Applied, changes: Changes) -> None:
    d = event.data
    month = spend_month(event, _metadata_date(d.metadata, "incurred_on"), None)
    changes.upsert(
        token_spend,
        {
            "event_id": event.id,
            "provider": d.provider,
            "model": d.model,
            "tokens_in": d.tokens_in,
            "tokens_out": d.tokens_out,
            "amount": d.cost.amount,
            "currency": d.cost.currency,
            "session_id": d.session_id,
            "domain": d.domain,
            "month": month,
        },
    )
    money = {"amount": d.cost.amount, "currency": d.cost.currency}
    changes.upsert(
        agent_spend,
        {"event_id": event.id, "actor": event.actor, "actor_kind": event.actorkind, "month": month, **money},
    )


def on_balance_recorded(event: FinBalanceRecorded, at: Applied, changes: Changes) -> None:
    d = event.data
    changes.upsert(
        balances,
        {
            "account": d.account or "",
            "as_of": d.as_of or event.time.date(),
            "amount": d.balance.amount,
            "currency": d.balance.currency,
            "event_id": event.id,
        },
    )


def on_budget_alert_raised(event: FinBudgetAlertRaised, at: Applied, changes: Changes) -> None:
    d = event.data
    changes.upsert(
        budget_alerts,
        {
            "event_id": event.id,
            "domain": d.domain,
            "period": d.period,
            "severity": d.severity,
            "threshold_pct": d.threshold_pct,
            "message": d.message,
            "raised_at": event.time,
        },
    )


def on_runway_projected(event: FinRunwayProjected, at: Applied, changes: Changes) -> None:
    d = event.data
    changes.upsert(
        runway_projections,
        {
            "event_id": event.id,
            "balance": d.balance.amount,
            "monthly_burn": d.monthly_burn.amount,
            "currency": d.balance.currency,
            "months_remaining": d.months_remaining,
            "projected_at": event.time,
            "metadata": d.metadata or None,
        },
    )


HANDLERS: Handlers = {
    FinBudgetAllocated: on_budget_allocated,
    FinCommitmentRecorded: on_commitment_recorded,
    FinCostRecorded: on_cost_recorded,
    FinCostCorrected: on_cost_recorded,
    FinTokenSpendRecorded: on_token_spend_recorded,
    FinBalanceRecorded: on_balance_recorded,
    FinBudgetAlertRaised: on_budget_alert_raised,
    FinRunwayProjected: on_runway_projected,
}


def projection() -> Projection:
    return hub_projection(manifest.SLUG, metadata, HANDLERS, manifest.EVENT_TYPES, manifest.ANNOTATION_CATEGORIES)
