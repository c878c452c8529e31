"""Canonical events: the CloudEvents envelope, the type registry and the codec. Imports nothing of ours."""

from vsmesh.events.codec import decode_event, decode_message, encode_event
from vsmesh.events.envelope import ActorKind, Event, Horizon, new_event_id
from vsmesh.events.registry import REGISTRY, EventRegistry

__all__ = [
    "REGISTRY",
    "ActorKind",
    "Event",
    "EventRegistry",
    "Horizon",
    "decode_event",
    "decode_message",
    "encode_event",
    "new_event_id",
]
