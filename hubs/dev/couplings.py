"""dev-hub's couplings: serious ops incidents block the affected service's repo; budget alerts press on dev."""

from __future__ import annotations

from typing import Any

from vsmesh.events.envelope import Event
from vsmesh.events.schemas.core import MessageSent
from vsmesh.events.schemas.dev import DevBlockerCleared, DevBlockerRaised
from vsmesh.events.schemas.fin import FinBudgetAlertRaised
from vsmesh.events.schemas.ops import OpsIncidentOpened, OpsIncidentResolved
from vsmesh.hubs.dev import manifest
from vsmesh.projectors.couplings.coupling import Context, Coupling, Emit, derived_id

INCIDENT = "ops-incident-to-dev-blocker"
BUDGET = "fin-budget-alert-to-dev-pressure"
SEVERITY_RANK = {"info": 0, "low": 1, "medium": 2, "high": 3, "critical": 4}
BLOCKER_AT = "high"  # incidents at or above this severity block dev work


def repo_of(event: Event) -> str | None:
    """The affected service's repo: the incident's `metadata.repo`, else the first affected service's name."""
    d = event.data
    if d.metadata.get("repo"):
        return str(d.metadata["repo"])
    services = [a.split("/", 1)[1] for a in d.affected if a.startswith("service/")]
    return services[0] if services else None


async def incident_to_blocker(event: Event, ctx: Context) -> list[Emit]:
    """Opened at or above BLOCKER_AT → a blocker on the repo; resolved → the blocker it raised is cleared.

    One coupling for both, so the stream's order holds: a resolve is always seen after its open.
    """
    if event.type == "ops-incident-opened":
        d = event.data
        if SEVERITY_RANK[d.severity] < SEVERITY_RANK[BLOCKER_AT]:
            return []
        repo = repo_of(event)
        data = {
            "title": f"incident: {d.title}",
            "severity": d.severity,
            "blocking": [f"repo/{repo}"] if repo else list(d.affected),
            "description": d.description,
            "cause_event_id": event.id,
        }
        subject = f"repo/{repo}" if repo else None
        return [Emit("dev-blocker-raised", manifest.SLUG, subject, {k: v for k, v in data.items() if v is not None})]
    if event.type == "ops-incident-resolved":
        raised: dict[str, Any] | None = await ctx.emitted(derived_id(INCIDENT, event.data.incident_id))
        if raised is None:
            return []  # the incident was below the threshold (or opened before couplings ran): nothing to clear
        data = {"blocker_id": raised["event_id"], "resolution": event.data.resolution or "incident resolved"}
        # The clear joins the incident's chain, so `vsmesh trace` shows open, block, resolve and clear together.
        return [
            Emit("dev-blocker-cleared", manifest.SLUG, raised["subject"], data, correlation_id=raised["correlation_id"])
        ]
    return []


def budget_to_pressure(event: FinBudgetAlertRaised) -> list[Emit]:
    """A budget alert tells the domain, in dev, that its resources are under pressure."""
    d = event.data
    spent = f" ({d.spent.amount} of {d.budget.amount} {d.budget.currency})" if d.spent and d.budget else ""
    data = {
        "to": d.domain,
        "title": f"resource pressure: {d.domain} budget {d.period or ''}".rstrip(),
        "body": (d.message or f"spending crossed {d.threshold_pct or '?'}% of the budget") + spent,
        "priority": "urgent" if d.severity == "critical" else "high" if d.severity == "high" else "normal",
    }
    return [Emit("message-sent", manifest.SLUG, f"domain/{d.domain}", data)]


def couplings() -> list[Coupling]:
    return [
        Coupling(
            name=INCIDENT,
            source_hub="ops-hub",
            target_hub=manifest.SLUG,
            reacts_to=(OpsIncidentOpened, OpsIncidentResolved),
            react=incident_to_blocker,
            emits=(DevBlockerRaised, DevBlockerCleared),
            description=f"an ops incident at {BLOCKER_AT}+ → dev blocker on the repo; resolved → cleared",
        ),
        Coupling(
            name=BUDGET,
            source_hub="fin-hub",
            target_hub=manifest.SLUG,
            reacts_to=(FinBudgetAlertRaised,),
            react=budget_to_pressure,
            emits=(MessageSent,),
            description="a fin budget alert → a resource-pressure message to the domain in dev",
        ),
    ]
