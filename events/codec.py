"""Bytes ↔ events. Encode once with msgspec; decode with the registry's single decoder."""

from __future__ import annotations

import msgspec

from vsmesh.errors import InvalidEvent, UnknownEventType
from vsmesh.events.envelope import Event
from vsmesh.events.registry import REGISTRY, EventRegistry

_encoder = msgspec.json.Encoder()


class _Head(msgspec.Struct):
    # Just enough of an envelope to say which type failed to decode.
    type: str | None = None
    id: str | None = None


def encode_event(event: Event) -> bytes:
    return _encoder.encode(event)


def decode_event(payload: bytes, registry: EventRegistry = REGISTRY) -> Event:
    """Decode and validate one event; errors name the type and the path that failed."""
    try:
        return registry.decoder.decode(payload)
    except msgspec.DecodeError as e:
        raise _explain(payload, e, registry) from e


def _explain(payload: bytes, error: msgspec.DecodeError, registry: EventRegistry) -> InvalidEvent:
    try:
        head = msgspec.json.decode(payload, type=_Head)
    except msgspec.DecodeError:
        return InvalidEvent(f"not a JSON event ({error}); send one CloudEvents JSON object")
    if head.type is None:
        return InvalidEvent("event has no `type`; set the CloudEvents `type` attribute, e.g. ops-health-checked")
    if head.type not in registry:
        return UnknownEventType(f"unknown event type {head.type!r}; see `vsmesh schema list` for the known types")
    return InvalidEvent(f"invalid {head.type} event {head.id or ''}: {error}".replace("  ", " "))
