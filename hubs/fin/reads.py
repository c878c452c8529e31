"""fin-hub's read operations: runway, budgets, spend and the alerts they raise."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from pydantic import Field
from sqlalchemy.ext.asyncio import AsyncConnection

from vsmesh.hubs.contract import ContractRequest, HubContext, Operation
from vsmesh.hubs.fin import manifest, queries

DEFAULT_RUNWAY_ALERT_MONTHS = 6.0  # when the settings object does not carry the fin threshold


def _threshold(ctx: HubContext) -> float:
    return float(getattr(ctx.settings, "fin_runway_alert_months", DEFAULT_RUNWAY_ALERT_MONTHS))


async def domain_summary(conn: AsyncConnection, *, as_of: dt.date, threshold: float) -> dict[str, Any]:
    """Runway, budgets, token spend and the alerts they raise."""
    runway = await queries.runway(conn, as_of, threshold, None)
    budgets = await queries.budgets(conn)
    alerts = [
        {"kind": "budget", "domain": b["domain"], "period": b["period"], "spent_pct": b["spent_pct"]}
        for b in budgets
        if b["alert"]
    ]
    if runway["below_threshold"]:
        alerts.append({"kind": "runway", "months_remaining": runway["months_remaining"], "threshold": threshold})
    return {
        "hub": manifest.SLUG,
        "runway": runway,
        "budgets": budgets,
        "token_spend": await queries.token_totals(conn),
        "alerts": alerts,
        "recorded_alerts": await queries.recorded_alerts(conn),
    }


class SummaryRequest(ContractRequest):
    as_of: dt.date | None = Field(None, description="the day to project from; default today (UTC)")


ThresholdMonths = Field(None, gt=0, description="alert below this many months; default VSMESH_FIN_RUNWAY_ALERT_MONTHS")


class RunwayRequest(ContractRequest):
    as_of: dt.date | None = Field(None, description="the day to project from; default today (UTC)")
    currency: str | None = Field(None, pattern="^[A-Z]{3}$", description="default: the latest balance's")
    alert_threshold_months: float | None = ThresholdMonths


class RunwaysRequest(ContractRequest):
    as_of: dt.date | None = Field(None, description="the day to project from; default today (UTC)")
    alert_threshold_months: float | None = ThresholdMonths


class BudgetsRequest(ContractRequest):
    domain: str | None = None
    period: str | None = None
    alert_pct: Decimal | None = Field(None, gt=0, description="`alert` at this share spent (canon's budget_alert_pct)")


class AgentSpendRequest(ContractRequest):
    currency: str | None = Field(None, pattern="^[A-Z]{3}$")


class SpendRequest(ContractRequest):
    pass


async def get_spend(ctx: HubContext, request: SpendRequest) -> dict[str, Any]:
    """Where the money goes: cost per service and token spend per actor (agents, people, services)."""
    async with ctx.read() as conn:
        return {
            "cost_per_service": await queries.cost_per_service(conn),
            "token_spend_per_actor": await queries.token_spend_per_actor(conn),
        }


class KnownEventsRequest(ContractRequest):
    ids: list[str] = Field(..., max_length=5000, description="cost, token-spend, budget-alert or runway event ids")


async def get_cost_figures(ctx: HubContext, request: KnownEventsRequest) -> dict[str, Any]:
    """What each cost counts at now, so a source that reported it can tell a revised figure (a correction)."""
    async with ctx.read() as conn:
        return {"figures": await queries.cost_figures(conn, request.ids)}


def _today() -> dt.date:
    return dt.datetime.now(dt.UTC).date()


async def get_domain_summary(ctx: HubContext, request: SummaryRequest) -> dict[str, Any]:
    async with ctx.read() as conn:
        return await domain_summary(conn, as_of=request.as_of or _today(), threshold=_threshold(ctx))


async def get_runway(ctx: HubContext, request: RunwayRequest) -> dict[str, Any]:
    threshold = request.alert_threshold_months or _threshold(ctx)
    async with ctx.read() as conn:
        return await queries.runway(conn, request.as_of or _today(), threshold, request.currency)


async def get_runways(ctx: HubContext, request: RunwaysRequest) -> dict[str, Any]:
    """The runway of every currency with a balance, each naming its newest balance event."""
    threshold = request.alert_threshold_months or _threshold(ctx)
    async with ctx.read() as conn:
        found = []
        for currency, balance_event_id in await queries.balance_currencies(conn):
            runway = await queries.runway(conn, request.as_of or _today(), threshold, currency)
            found.append({**runway, "balance_event_id": balance_event_id})
    return {"runways": found}


async def get_budgets(ctx: HubContext, request: BudgetsRequest) -> dict[str, Any]:
    async with ctx.read() as conn:
        return {"budgets": await queries.budgets(conn, request.domain, request.period, request.alert_pct)}


async def get_agent_spend(ctx: HubContext, request: AgentSpendRequest) -> dict[str, Any]:
    async with ctx.read() as conn:
        return {"agent_spend": await queries.agent_spending(conn, request.currency)}


async def known_events(ctx: HubContext, request: KnownEventsRequest) -> dict[str, Any]:
    async with ctx.read() as conn:
        return {"known": await queries.known_event_ids(conn, request.ids)}


def read_operations() -> list[Operation]:
    return [
        Operation("get_domain_summary", SummaryRequest, get_domain_summary, "runway, budgets, token spend, alerts"),
        Operation("get_runway", RunwayRequest, get_runway, "months of runway at the projected burn"),
        Operation("get_runways", RunwaysRequest, get_runways, "the runway of every currency with a balance"),
        Operation("get_budgets", BudgetsRequest, get_budgets, "budgets: allocated, committed, spent"),
        Operation("get_agent_spend", AgentSpendRequest, get_agent_spend, "token spend per agent and month"),
        Operation("get_spend", SpendRequest, get_spend, "cost per service and token spend per agent"),
        Operation("known_events", KnownEventsRequest, known_events, "which of these events the hub already has"),
        Operation("get_cost_figures", KnownEventsRequest, get_cost_figures, "the figure each of these costs counts at"),
    ]
