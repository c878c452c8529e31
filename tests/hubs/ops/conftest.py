"""ops-hub test helpers: a NATS client, a publisher and a way to ask ops-hub once it has seen an event."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from vsmesh.bus.contract_client import ask
from vsmesh.bus.publisher import Publisher


class Ops:
    """Publishes ops-hub events and asks ops-hub, waiting for what was just published (read-your-writes)."""

    def __init__(self, nc, settings) -> None:
        self.nc = nc
        self.publisher = Publisher(nc.jetstream(), settings)
        self.seen: dict[str, int] = {}
        self.last = None

    async def publish(self, event_type: str, subject: str | None, **data: Any) -> str:
        event = self.publisher.build(event_type, hub="ops-hub", subject=subject, data=data)
        stored = await self.publisher.publish(event)
        self.seen[stored.stream] = max(self.seen.get(stored.stream, 0), stored.sequence)
        self.last = event
        return stored.event_id

    async def ask(self, operation: str, **request: Any) -> Any:
        return await ask(self.nc, "ops-hub", operation, {**request, "wait_for_seq": dict(self.seen)})


@pytest.fixture
def ops(nc, settings, running_mesh) -> Ops:
    return Ops(nc, settings)


@pytest.fixture
def unique() -> str:
    """A name no other test (the session's mesh is shared) uses."""
    return uuid.uuid4().hex[:8]
