"""Reads of fin-hub's read model, turned into the pure runway and budget arithmetic's inputs."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from vsmesh.hubs.fin.runway import Commitment, committed_in, period_months, project_runway, variable_monthly
from vsmesh.hubs.fin.tables import (
    agent_spend,
    balances,
    budget_alerts,
    budget_allocations,
    commitments,
    costs,
    runway_projections,
    token_spend,
)

# A budget's `alert` on read when the caller names no share; the published alerts follow canon's
# `budget_alert_pct` (canon's checks, hubs/canon/scheduled.py), and `alert_event_id` names the one raised.
BUDGET_ALERT_PCT = Decimal(90)
DEFAULT_CURRENCY = "EUR"


async def main_currency(conn: AsyncConnection) -> str:
    """The currency of the latest balance: runway and totals are in it."""
    query = sa.select(balances.c.currency).order_by(balances.c.as_of.desc(), balances.c.account).limit(1)
    return (await conn.execute(query)).scalar_one_or_none() or DEFAULT_CURRENCY


async def current_balance(conn: AsyncConnection, currency: str, as_of: dt.date) -> Decimal:
    """The sum over accounts of each account's latest balance on or before `as_of`."""
    b = balances.c
    latest = (
        sa.select(b.amount)
        .where(b.currency == currency, b.as_of <= as_of)
        .distinct(b.account)
        .order_by(b.account, b.as_of.desc())
        .subquery()
    )
    total = (await conn.execute(sa.select(sa.func.sum(latest.c.amount)))).scalar_one()
    return total or Decimal(0)


async def spend_by_month(conn: AsyncConnection, currency: str, domain: str | None = None) -> dict[str, Decimal]:
    """Recorded spend (costs and tokens) per month."""
    totals: dict[str, Decimal] = {}
    for table in (costs, token_spend):
        query = sa.select(table.c.month, sa.func.sum(table.c.amount)).where(table.c.currency == currency)
        if domain is not None:
            query = query.where(table.c.domain == domain)
        for month, amount in (await conn.execute(query.group_by(table.c.month))).all():
            totals[month] = totals.get(month, Decimal(0)) + amount
    return totals


async def load_commitments(conn: AsyncConnection, currency: str, domain: str | None = None) -> list[Commitment]:
    c = commitments.c
    query = sa.select(c.amount, c.cadence, c.starts_on, c.ends_on).where(c.currency == currency)
    if domain is not None:
        query = query.where(c.domain == domain)
    return [Commitment(r.amount, r.cadence, r.starts_on, r.ends_on) for r in (await conn.execute(query)).all()]


async def runway(conn: AsyncConnection, as_of: dt.date, threshold: float, currency: str | None) -> dict[str, Any]:
    """The runway answer: balance, burn (variable and committed), months left and whether that alerts."""
    currency = currency or await main_currency(conn)
    balance = await current_balance(conn, currency, as_of)
    variable = variable_monthly(await spend_by_month(conn, currency), as_of)
    projected = project_runway(balance, variable, await load_commitments(conn, currency), as_of)
    below = projected.months is not None and projected.months < Decimal(str(threshold))
    return {
        "as_of": as_of,
        "currency": currency,
        "balance": balance,
        "variable_monthly": variable.quantize(Decimal("0.01")),
        "committed_monthly": projected.committed_monthly.quantize(Decimal("0.01")),
        "monthly_burn": projected.monthly_burn.quantize(Decimal("0.01")),
        "months_remaining": projected.months,  # None: lasts beyond the ten-year horizon
        "alert_threshold_months": threshold,
        "below_threshold": below,
    }


async def budgets(
    conn: AsyncConnection, domain: str | None = None, period: str | None = None, alert_pct: Decimal | None = None
) -> list[dict[str, Any]]:
    """Each (domain, period, currency) budget with allocated, committed and spent, and whether it alerts."""
    a = budget_allocations.c
    query = sa.select(a.domain, a.period, a.currency, sa.func.sum(a.amount).label("allocated"))
    if domain is not None:
        query = query.where(a.domain == domain)
    if period is not None:
        query = query.where(a.period == period)
    query = query.group_by(a.domain, a.period, a.currency).order_by(a.domain, a.period, a.currency)
    share = BUDGET_ALERT_PCT if alert_pct is None else alert_pct
    return [await _budget(conn, share, **row) for row in (await conn.execute(query)).mappings()]


async def _budget(
    conn: AsyncConnection, alert_pct: Decimal, domain: str, period: str, currency: str, allocated: Decimal
) -> dict:
    months = period_months(period)
    spent = Decimal(0)
    for table in (costs, token_spend):
        match = table.c.month.in_(months)
        if table is costs:
            match = sa.or_(match, costs.c.period == period)
        query = sa.select(sa.func.sum(table.c.amount)).where(
            table.c.domain == domain, table.c.currency == currency, match
        )
        spent += (await conn.execute(query)).scalar_one() or Decimal(0)
    promised = await load_commitments(conn, currency, domain)
    committed = sum((committed_in(promised, _first_day(m)) for m in months), Decimal(0))
    pct = (spent * 100 / allocated).quantize(Decimal("0.1")) if allocated > 0 else None
    return {
        "domain": domain,
        "period": period,
        "currency": currency,
        "allocated": allocated,
        "committed": committed.quantize(Decimal("0.01")),
        "spent": spent,
        "remaining": allocated - spent - committed,
        "spent_pct": pct,
        "alert": pct is not None and pct >= alert_pct,
        "alert_event_id": await _raised_alert(conn, domain, period),
    }


async def _raised_alert(conn: AsyncConnection, domain: str, period: str) -> str | None:
    """The newest budget alert published for this budget, if any."""
    a = budget_alerts.c
    query = sa.select(a.event_id).where(a.domain == domain, a.period == period).order_by(a.raised_at.desc())
    return (await conn.execute(query.limit(1))).scalar_one_or_none()


def _first_day(month: str) -> dt.date:
    return dt.date(int(month[:4]), int(month[5:7]), 1)


async def token_totals(conn: AsyncConnection) -> list[dict[str, Any]]:
    """Token use and cost per provider and model."""
    t = token_spend.c
    query = (
        sa.select(
            t.provider,
            t.model,
            t.currency,
            sa.cast(sa.func.sum(t.tokens_in), sa.BigInteger).label("tokens_in"),
            sa.cast(sa.func.sum(t.tokens_out), sa.BigInteger).label("tokens_out"),
            sa.func.sum(t.amount).label("cost"),
            sa.func.count(sa.distinct(t.session_id)).label("sessions"),
        )
        .group_by(t.provider, t.model, t.currency)
        .order_by(t.provider, t.model, t.currency)
    )
    return [dict(r) for r in (await conn.execute(query)).mappings()]


async def agent_spending(conn: AsyncConnection, currency: str | None = None) -> list[dict[str, Any]]:
    """Token spend per agent (the events' actor), month and currency."""
    s = agent_spend.c
    spent, events = sa.func.sum(s.amount).label("spent"), sa.func.count().label("events")
    query = sa.select(s.actor, s.month, s.currency, spent, events)
    query = query.where(s.actor_kind == "agent")
    if currency is not None:
        query = query.where(s.currency == currency)
    query = query.group_by(s.actor, s.month, s.currency).order_by(s.actor, s.month, s.currency)
    return [dict(r) for r in (await conn.execute(query)).mappings()]


async def balance_currencies(conn: AsyncConnection) -> list[tuple[str, str]]:
    """(currency, the event id of its newest balance) for every currency with a balance."""
    b = balances.c
    query = sa.select(b.currency, b.event_id).distinct(b.currency).order_by(b.currency, b.as_of.desc(), b.account)
    return [(r.currency, r.event_id) for r in (await conn.execute(query)).all()]


async def cost_per_service(conn: AsyncConnection) -> list[dict[str, Any]]:
    """Recorded costs per service they are attributed to (unattributed costs under None), largest first."""
    c = costs.c
    query = (
        sa.select(c.service, c.currency, sa.func.sum(c.amount).label("cost"), sa.func.count().label("records"))
        .group_by(c.service, c.currency)
        .order_by(sa.func.sum(c.amount).desc(), c.service.nulls_last(), c.currency)
    )
    return [dict(r) for r in (await conn.execute(query)).mappings()]


async def token_spend_per_actor(conn: AsyncConnection) -> list[dict[str, Any]]:
    """Token use and cost per actor who recorded it (an agent's own spend, through the gateway), largest first."""
    t, a = token_spend.c, agent_spend.c
    cost = sa.func.sum(t.amount)
    query = (
        sa.select(
            a.actor,
            a.actor_kind,
            t.currency,
            sa.cast(sa.func.sum(t.tokens_in), sa.BigInteger).label("tokens_in"),
            sa.cast(sa.func.sum(t.tokens_out), sa.BigInteger).label("tokens_out"),
            cost.label("cost"),
        )
        .join(agent_spend, a.event_id == t.event_id)
        .group_by(a.actor, a.actor_kind, t.currency)
        .order_by(cost.desc(), a.actor, t.currency)
    )
    return [dict(r) for r in (await conn.execute(query)).mappings()]


async def recorded_alerts(conn: AsyncConnection) -> list[dict[str, Any]]:
    """Budget alerts published as events (by people or couplings), newest first."""
    query = sa.select(budget_alerts).order_by(budget_alerts.c.raised_at.desc()).limit(50)
    return [dict(r) for r in (await conn.execute(query)).mappings()]


async def known_event_ids(conn: AsyncConnection, ids: list[str]) -> list[str]:
    """Which of these cost, token-spend, budget-alert or runway event ids the hub has applied."""
    found: list[str] = []
    for table in (costs, token_spend, budget_alerts, runway_projections):
        query = sa.select(table.c.event_id).where(table.c.event_id.in_(ids))
        found.extend((await conn.execute(query)).scalars())
    return sorted(found)


async def cost_figures(conn: AsyncConnection, ids: list[str]) -> dict[str, dict[str, Any]]:
    """The figure each of these cost events now counts at (its latest correction's, if any), by event id."""
    c = costs.c
    query = sa.select(c.event_id, c.amount, c.currency, c.corrected_by).where(c.event_id.in_(ids))
    return {r.event_id: {"amount": r.amount, "currency": r.currency, "corrected_by": r.corrected_by}
            for r in (await conn.execute(query)).all()}  # fmt: skip
