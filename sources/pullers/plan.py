"""What a pull would publish (`Planned`), and publishing it.

A puller first plans: it reads its tool, asks the hubs what they already hold, and keeps only what is new (a
cost not yet recorded, a revised figure, a service the inventory does not hold). Ids derive from the tool's own
identity of the thing (`event_id`), so a plan made twice, by two processes or before the hub applied the first
one's events, is stored once (JetStream's message id within its window, the hubs' answers beyond it).
`vsmesh pull run --dry-run` shows a plan without publishing it.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from nats.aio.client import Client

from vsmesh.bus.publisher import Published, Publisher
from vsmesh.settings import Settings

NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "vsmesh:sources:pullers")


def event_id(*parts: object) -> str:
    """An event id from the tool's own identity of a thing (puller, service, day, …): the same thing, the same id."""
    return str(uuid.uuid5(NAMESPACE, ":".join(str(p) for p in parts)))


@dataclass(frozen=True)
class Planned:
    """One event a pull would publish, and why it is news."""

    event_type: str
    hub: str
    subject: str
    data: dict[str, Any]
    event_id: str
    why: str
    actor: str | None = None  # whose act it records (a token spend: the agent's); default the pullers' own
    actor_kind: str = "service"


@dataclass
class Plan:
    """A pull's outcome: the events to publish, and what it read but left out (with the reason)."""

    puller: str
    events: list[Planned] = field(default_factory=list)
    read: int = 0  # items the tool gave
    skipped: list[str] = field(default_factory=list)  # items it could not use, each with its reason


async def publish(plan: Plan, nc: Client, settings: Settings) -> list[Published]:
    """Publish the plan's events (pipelined), each as its actor; `metadata.puller` names the puller."""
    by_actor: dict[tuple[str, str], list[Planned]] = defaultdict(list)
    for p in plan.events:
        by_actor[(p.actor or settings.pullers_actor, p.actor_kind)].append(p)
    stored: list[Published] = []
    for (actor, kind), planned in by_actor.items():
        acting = settings.model_copy(update={"actor": actor, "actor_kind": kind})
        publisher = Publisher(nc.jetstream(), acting, source=f"vsmesh/pullers/{plan.puller}")
        events = [publisher.build(p.event_type, hub=p.hub, subject=p.subject, data=_marked(p.data, plan.puller),
                                  event_id=p.event_id) for p in planned]  # fmt: skip
        stored += await publisher.publish_many(events)
    return stored


def _marked(data: Mapping[str, Any], puller: str) -> dict[str, Any]:
    return {**data, "metadata": {**data.get("metadata", {}), "puller": puller}}
