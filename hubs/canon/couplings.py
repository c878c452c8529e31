"""canon-hub's coupling: a runway below its threshold is a viability question for System 5."""

from __future__ import annotations

from vsmesh.events.schemas.fin import FinRunwayProjected
from vsmesh.hubs.canon import manifest
from vsmesh.hubs.coupling import Coupling, Emit

RUNWAY = "fin-runway-to-canon-escalation"
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


def couplings() -> list[Coupling]:
    return [
        Coupling(
            name=RUNWAY,
            source_hub="fin-hub",
            target_hub=manifest.SLUG,
            sources={"STRATEGIC": "strategic.fin-hub.fin-runway-projected.>"},
            types=frozenset({"fin-runway-projected"}),
            react=runway_to_escalation,
            emits=("canon-escalation-raised",),
            description="a fin runway below its threshold → canon viability escalation",
        ),
    ]
