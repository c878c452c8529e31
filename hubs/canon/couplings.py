"""canon-hub's couplings: a runway below its threshold is a viability question for System 5, and an agent's
spend above a canon policy's threshold escalates to a person.

Policy thresholds are policy values (`canon-policy-declared` with `metadata.values`), read from canon's
read model through its contract, never written here: e.g. `{"agent_spend_threshold": {"amount": "500",
"currency": "EUR"}}` (or a number beside `"currency"`). Declaring a new version of the policy changes the
outcome of the next spend.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any

from vsmesh.events.envelope import Event
from vsmesh.events.schemas.canon import CanonEscalationRaised
from vsmesh.events.schemas.fin import FinCommitmentRecorded, FinCostRecorded, FinRunwayProjected
from vsmesh.hubs.canon import manifest
from vsmesh.projectors.couplings.coupling import Context, Coupling, Emit

RUNWAY = "fin-runway-to-canon-escalation"
AGENT_SPEND = "fin-agent-spend-to-canon-escalation"
# The fin events whose single amount is judged at once; token spend is judged per agent and period by the
# scheduler's agent-spend check (hubs/canon/checks.py), so one spend never escalates twice.
SPENDING = (FinCostRecorded, FinCommitmentRecorded)
THRESHOLD_VALUE = "agent_spend_threshold"  # the policy value naming the most an agent may spend at once
DEFAULT_THRESHOLD_MONTHS = 6.0  # when the projection names no threshold


def runway_to_escalation(event: FinRunwayProjected) -> list[Emit]:
    d = event.data
    threshold = d.alert_threshold_months or DEFAULT_THRESHOLD_MONTHS
    if d.months_remaining >= threshold:
        return []
    data = {
        "title": f"viability: runway {d.months_remaining:.1f} months, below {threshold:g}",
        "severity": "critical" if d.months_remaining < threshold / 2 else "high",
        "from_hub": event.hub,
        "reason": (
            f"balance {d.balance.amount} {d.balance.currency} at a monthly burn of "
            f"{d.monthly_burn.amount} {d.monthly_burn.currency}"
        ),
        "cause_event_id": event.id,
    }
    return [Emit("canon-escalation-raised", manifest.SLUG, "viability/runway", data)]


def spend_of(event: Event) -> tuple[Decimal, str]:
    """(amount, currency) of a fin spend: a cost or a commitment (per cadence)."""
    money = event.data.amount
    return Decimal(money.amount), money.currency


def thresholds(policies: list[dict[str, Any]], currency: str) -> list[tuple[Decimal, dict[str, Any]]]:
    """(threshold, policy) for every policy in force with an agent spend threshold in `currency`."""
    found = []
    for p in policies:
        values = p.get("values") or {}
        value = values.get(THRESHOLD_VALUE)
        if isinstance(value, dict):
            amount, unit = value.get("amount"), value.get("currency")
        else:
            amount, unit = value, values.get("currency")
        if amount is None or unit != currency:
            continue
        try:
            found.append((Decimal(str(amount)), p))
        except InvalidOperation:
            continue  # a value that is not a number is no threshold
    return sorted(found, key=lambda t: t[0])


async def agent_spend_to_escalation(event: Event, ctx: Context) -> list[Emit]:
    """An agent's spend above the lowest threshold of canon's policies in force → an escalation to a person."""
    if event.actorkind != "agent":
        return []
    amount, currency = spend_of(event)
    answer = await ctx.ask(manifest.SLUG, "get_policies", {})
    over = [(t, p) for t, p in thresholds(answer["policies"], currency) if amount > t]
    if not over:
        return []
    threshold, policy = over[0]
    data = {
        "title": f"policy {policy['policy']}: agent {event.actor} spent {amount} {currency}, above {threshold}",
        "severity": "high",
        "from_hub": event.hub,
        "reason": f"{event.type} by agent {event.actor} exceeds {THRESHOLD_VALUE} {threshold} {currency}",
        "cause_event_id": event.id,
        "metadata": {
            "policy": policy["policy"],
            "policy_version": policy.get("version"),
            "policy_event_id": policy.get("event_id"),
            "threshold": {"amount": str(threshold), "currency": currency},
            "spent": {"amount": str(amount), "currency": currency},
            "actor": event.actor,
        },
    }
    return [Emit("canon-escalation-raised", manifest.SLUG, f"policy/{policy['policy']}", data)]


def couplings() -> list[Coupling]:
    return [
        Coupling(
            name=AGENT_SPEND,
            source_hub="fin-hub",
            target_hub=manifest.SLUG,
            reacts_to=SPENDING,
            react=agent_spend_to_escalation,
            emits=(CanonEscalationRaised,),
            description="an agent's fin spend above a canon policy threshold → canon escalation",
        ),
        Coupling(
            name=RUNWAY,
            source_hub="fin-hub",
            target_hub=manifest.SLUG,
            reacts_to=(FinRunwayProjected,),
            react=runway_to_escalation,
            emits=(CanonEscalationRaised,),
            description="a fin runway below its threshold → canon viability escalation",
        ),
    ]
