"""Helpers for the core tests: read-your-writes requests and publishing as a plain client."""

from __future__ import annotations

from nats.aio.client import Client

from vsmesh.bus.publisher import Publisher
from vsmesh.settings import Settings


def after(written: dict) -> dict:
    """Read-your-writes: ask the hub to wait until it applied the event a write returned."""
    return {"wait_for_seq": {written["stream"]: written["seq"]}}


async def publish(
    nc: Client, settings: Settings, hub: str, event_type: str, data: dict, subject: str | None = None
) -> dict:
    """Publish one event as a service or agent would; its {id, stream, seq} like a contract write."""
    publisher = Publisher(nc.jetstream(), settings)
    stored = await publisher.publish(publisher.build(event_type, hub=hub, subject=subject, data=data))
    return {"id": stored.event_id, "stream": stored.stream, "seq": stored.sequence}
