"""aud-hub's coupling: a finding of high (or critical) severity is a question for the policy level, escalated to
canon-hub at once — a read model that disagrees with its log, an agent acting without a mandate, a broken chain."""

from __future__ import annotations

from vsmesh.events.schemas.canon import CanonEscalationRaised
from vsmesh.hubs.aud import manifest
from vsmesh.hubs.aud.events import AudFindingRaised
from vsmesh.projectors.couplings.coupling import Coupling, Emit

CANON_HUB = "canon-hub"
ESCALATED = ("high", "critical")


def finding_to_escalation(event: AudFindingRaised) -> list[Emit]:
    d = event.data
    if d.severity not in ESCALATED:
        return []
    data = {
        "title": f"audit: {d.title}",
        "severity": d.severity,
        "from_hub": manifest.SLUG,
        "reason": f"aud-hub's {d.check} check raised finding {d.finding_id}",
        "cause_event_id": event.id,
        "metadata": {"finding_id": d.finding_id, "check": d.check},
    }
    return [Emit("canon-escalation-raised", CANON_HUB, f"finding/{d.finding_id}", data)]


def couplings() -> list[Coupling]:
    return [
        Coupling(
            name="aud-finding-to-canon-escalation",
            source_hub=manifest.SLUG,
            target_hub=CANON_HUB,
            reacts_to=(AudFindingRaised,),
            react=finding_to_escalation,
            emits=(CanonEscalationRaised,),
            description="an audit finding of high severity → canon escalation",
        )
    ]
