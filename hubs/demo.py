"""The demo picture: every hub's sample events (its declaration's `sample`), in the order of their `sample_rank`,
with ids derived from stable keys so a rerun adds nothing."""

from __future__ import annotations

from vsmesh.hubs import discovered
from vsmesh.hubs.samples import DemoEvent


def demo_events() -> list[DemoEvent]:
    """Every hub's part, in publishing order."""
    hubs = sorted(discovered().values(), key=lambda h: (h.sample_rank, h.slug))
    return [event for declared in hubs for event in declared.sample_events()]
