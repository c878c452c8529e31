"""The demo picture: each hub's sample events, with ids derived from stable keys so a rerun adds nothing.

A hub adds its part by appending a callable to `DEMO_PARTS` that returns its `DemoEvent`s in order.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

# Fixed forever: changing it would give every demo event a new id, so a rerun would publish them again.
DEMO_NAMESPACE = uuid.UUID("6f1c2a0e-8d4b-5e7a-9c3f-2b1d0e4a7c55")


def demo_id(key: str) -> str:
    """The event id for a demo key: the same key always gives the same id."""
    return str(uuid.uuid5(DEMO_NAMESPACE, key))


@dataclass(frozen=True)
class DemoEvent:
    """One sample event; `key` names it for good (its id derives from the key)."""

    key: str
    type: str
    hub: str
    subject: str | None
    data: dict[str, Any] = field(default_factory=dict)
    actor: str | None = None  # who acted, when not the person running the demo
    actor_kind: str | None = None  # human | agent | service, with `actor`

    @property
    def id(self) -> str:
        return demo_id(self.key)


DemoPart = Callable[[], list[DemoEvent]]


def _ops_part() -> list[DemoEvent]:
    from vsmesh.hubs.ops.sample import events

    return events()


def _dev_part() -> list[DemoEvent]:
    from vsmesh.hubs.dev.sample import events

    return events()


def _fin_part() -> list[DemoEvent]:
    from vsmesh.hubs.fin.sample import events

    return events()


def _canon_part() -> list[DemoEvent]:
    from vsmesh.hubs.canon.sample import events

    return events()


def _sec_part() -> list[DemoEvent]:
    from vsmesh.hubs.sec.sample import events

    return events()


def _legal_part() -> list[DemoEvent]:
    from vsmesh.hubs.legal.sample import events

    return events()


DEMO_PARTS: list[DemoPart] = [_ops_part, _dev_part, _fin_part, _canon_part, _sec_part, _legal_part]


def demo_events() -> list[DemoEvent]:
    """Every part's events, in publishing order."""
    return [event for part in DEMO_PARTS for event in part()]
