"""What a hub's sample events are made of: ids derived from stable keys, so publishing them twice adds nothing."""

from __future__ import annotations

import uuid
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
