"""canon-hub's demo picture: an open question. Its policies and mandates come from the example organisation
repository (examples/org-repo/canon/), which the demo syncs."""

from __future__ import annotations

from vsmesh.hubs.samples import DemoEvent

HUB = "canon-hub"


def events() -> list[DemoEvent]:
    """canon-hub's demo events, in publishing order."""
    return [
        DemoEvent("canon/escalation/first-customer", "canon-escalation-raised", HUB, "topic/railiance-as-a-service",
                  {"title": "Runway needs a first paying customer", "severity": "medium", "from_hub": "fin-hub",
                   "reason": "commitments exceed revenue until railiance-as-a-service sells"}),
    ]  # fmt: skip
