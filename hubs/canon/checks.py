"""The timed checks canon's policies declare: pure decisions from the hubs' answers to the events they call for.

Each decision names its event's id, derived from what the event is about (the budget and its period, the
currency and the check's slot, the agent and its period, the escalation and how many SLAs it outlived), so
running a check twice, after a restart or in a second process, asks for the same ids: the scheduler
(hubs/canon/scheduled.py) sends only the ids the hubs do not hold yet, and JetStream drops a racing twin by
its `Nats-Msg-Id`. The values come from `check_values` (canon's policies in force), never from code.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from vsmesh.clock import as_utc
from vsmesh.hubs.canon.values import CheckValues

# Fixed forever: every check's event ids derive from it, so a second scheduler publishes nothing new.
CHECKS_NAMESPACE = uuid.UUID("5a0c6e1b-2f4d-5b8a-9e7c-3d1f0a2b4c6e")
BUDGET, RUNWAY, AGENT_SPEND, ESCALATION_SLA = "budget-alerts", "runway", "agent-spend", "escalation-sla"
CHECKS = (BUDGET, RUNWAY, AGENT_SPEND, ESCALATION_SLA)


def check_id(*key: object) -> str:
    return str(uuid.uuid5(CHECKS_NAMESPACE, ":".join(str(k) for k in key)))


@dataclass(frozen=True)
class Planned:
    """An event a check calls for, with its derived id."""

    type: str
    hub: str
    subject: str | None
    data: dict[str, Any]
    event_id: str
    causation_id: str | None = None


@dataclass
class Decision:
    """What one check found: the events it calls for and a line saying why (shown by `vsmesh status`)."""

    check: str
    planned: list[Planned] = field(default_factory=list)
    result: str = ""
    ran: bool = True  # False: no policy in force declares the value the check needs


def _idle(check: str, value: str) -> Decision:
    return Decision(check, result=f"not run: no canon policy in force declares {value}", ran=False)


def budget_alerts(values: CheckValues, budgets: list[dict[str, Any]]) -> Decision:
    """A budget whose spend reached canon's `budget_alert_pct` alerts once per budget and period."""
    pct = values.budget_alert_pct
    if pct is None:
        return _idle(BUDGET, "budget_alert_pct")
    over = [b for b in budgets if b["spent_pct"] is not None and Decimal(str(b["spent_pct"])) >= pct.value]
    planned = []
    for b in over:
        if b.get("alert_event_id"):
            continue  # an alert for this budget and period is on the log already
        money = {"currency": b["currency"]}
        data = {
            "domain": b["domain"],
            "period": b["period"],
            "budget": {"amount": str(b["allocated"]), **money},
            "spent": {"amount": str(b["spent"]), **money},
            "threshold_pct": float(pct.value),
            "severity": "high" if Decimal(str(b["spent_pct"])) >= 100 else "medium",
            "message": f"{b['spent_pct']} % of the {b['period']} budget spent; policy {pct.policy} alerts at "
            f"{pct.value} %",
            "metadata": {"policy": pct.policy, "policy_event_id": pct.event_id, "check": BUDGET},
        }
        key = check_id(BUDGET, b["domain"], b["period"], b["currency"])
        planned.append(Planned("fin-budget-alert-raised", "fin-hub", f"domain/{b['domain']}", data, key))
    result = f"{len(budgets)} budgets, {len(over)} at or over {pct.value} % (policy {pct.policy})"
    return Decision(BUDGET, planned, result)


def slot_start(now: dt.datetime, every_s: float) -> dt.datetime:
    """The start of the check slot `now` falls in: slots of `every_s` seconds from the Unix epoch (UTC days)."""
    epoch = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
    slots = int((now - epoch).total_seconds() // every_s)
    return epoch + dt.timedelta(seconds=slots * every_s)


def runway(values: CheckValues, runways: list[dict[str, Any]], now: dt.datetime) -> Decision:
    """Each currency's runway, projected once per `runway_check_every` slot (daily in the demo's canon)."""
    every = values.runway_check_every_s
    if every is None:
        return _idle(RUNWAY, "runway_check_every")
    slot = slot_start(now, every.value)
    threshold = values.runway_alert_months
    planned, beyond = [], []
    for r in runways:
        if r["months_remaining"] is None:
            beyond.append(r["currency"])  # lasts past the ten-year horizon: nothing to project
            continue
        currency = r["currency"]
        data = {
            "balance": {"amount": str(r["balance"]), "currency": currency},
            "monthly_burn": {"amount": str(r["monthly_burn"]), "currency": currency},
            "months_remaining": float(r["months_remaining"]),
            "alert_threshold_months": float(threshold.value) if threshold else None,
            "method": "timed check: average recorded spend plus commitments",
            "metadata": {
                "check": RUNWAY,
                "slot": slot.isoformat(),
                "policy": every.policy,
                "threshold_policy": threshold.policy if threshold else None,
                "balance_event_id": r.get("balance_event_id"),
            },
        }
        key = check_id(RUNWAY, currency, slot.isoformat())
        planned.append(Planned("fin-runway-projected", "fin-hub", f"runway/{currency}", data, key))
    low = [p.subject for p in planned if threshold and p.data["months_remaining"] < threshold.value]
    result = f"{len(runways)} currencies checked for the slot from {slot.isoformat()}"
    result += f"; below {threshold.value} months: {', '.join(low)}" if low else ""
    result += f"; beyond the horizon: {', '.join(beyond)}" if beyond else ""
    return Decision(RUNWAY, planned, result)


def period_of(month: str, period: str) -> str:
    """The period a month ("YYYY-MM") counts in: itself, its quarter ("YYYY-Q4") or its year."""
    if period == "quarter":
        return f"{month[:4]}-Q{(int(month[5:7]) - 1) // 3 + 1}"
    return month[:4] if period == "year" else month


def agent_spend(values: CheckValues, spending: list[dict[str, Any]]) -> Decision:
    """An agent whose token spend in a period is above canon's `agent_spend_threshold` escalates, once."""
    if not values.agent_spend_threshold:
        return _idle(AGENT_SPEND, "agent_spend_threshold")
    period = values.agent_spend_period.value if values.agent_spend_period else "month"
    totals: Counter[tuple[str, str, str]] = Counter()
    for row in spending:
        totals[(row["actor"], period_of(row["month"], period), row["currency"])] += Decimal(str(row["spent"]))
    planned = []
    for (actor, when, currency), spent in sorted(totals.items()):
        limit = values.agent_spend_threshold.get(currency)
        if limit is None or spent <= limit.value:
            continue
        threshold = {"amount": str(limit.value), "currency": currency}
        data = {
            "title": f"policy {limit.policy}: agent {actor} spent {spent} {currency} on tokens in {when}, "
            f"above {limit.value}",
            "severity": "high",
            "from_hub": "fin-hub",
            "reason": f"token spend of agent {actor} in {period} {when} exceeds agent_spend_threshold "
            f"{limit.value} {currency}",
            "metadata": {
                "policy": limit.policy,
                "policy_event_id": limit.event_id,
                "threshold": threshold,
                "spent": {"amount": str(spent), "currency": currency},
                "actor": actor,
                "period": when,
                "check": AGENT_SPEND,
            },
        }
        key = check_id(AGENT_SPEND, actor, when, currency)
        planned.append(Planned("canon-escalation-raised", "canon-hub", f"agent/{actor}", data, key))
    result = f"{len(totals)} agent-{period} totals, {len(planned)} above canon's threshold"
    return Decision(AGENT_SPEND, planned, result)


def _aware(value: Any) -> dt.datetime:
    at = value if isinstance(value, dt.datetime) else dt.datetime.fromisoformat(str(value))
    return as_utc(at)


def escalation_sla(
    values: CheckValues,
    open_escalations: list[dict[str, Any]],
    now: dt.datetime,
    hub_horizon: Callable[[str | None], str | None],
) -> Decision:
    """An escalation unanswered past its horizon's SLA is re-escalated: once per SLA it has outlived."""
    if not values.escalation_sla_s:
        return _idle(ESCALATION_SLA, "escalation_sla")
    planned, unclocked = [], 0
    overdue = 0
    for e in open_escalations:
        horizon = e.get("horizon") or hub_horizon(e.get("from_hub"))
        sla = values.escalation_sla_s.get(horizon) if horizon else None
        if sla is None:
            unclocked += 1
            continue
        raised = _aware(e["raised_at"])
        elapsed = int((now - raised).total_seconds() // sla.value)
        overdue += elapsed >= 1
        if elapsed < 1 or (e.get("re_escalations") or 0) >= elapsed:
            continue
        data = {
            "escalation_id": e["escalation_id"],
            "horizon": horizon,
            "sla_s": sla.value,
            "raised_at": raised.isoformat(),
            "due_at": (raised + dt.timedelta(seconds=elapsed * sla.value)).isoformat(),
            "re_escalation": elapsed,
            "policy": sla.policy,
        }
        key = check_id(ESCALATION_SLA, e["escalation_id"], elapsed)
        planned.append(Planned("canon-escalation-overdue", "canon-hub", e.get("entity"), data, key, e["escalation_id"]))
    result = f"{len(open_escalations)} open escalations, {overdue} overdue"
    result += f", {unclocked} with no SLA for their horizon" if unclocked else ""
    return Decision(ESCALATION_SLA, planned, result)
