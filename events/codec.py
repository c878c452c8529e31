"""Bytes ↔ events. Encode once with msgspec; decode with the registry's single decoder, upcasting old versions.

Current-version events take one msgspec decode. An event stored at an older `schemaversion` is decoded
to a dict, lifted by the upcaster chain and converted to the current Struct; the stored bytes stay as
they are. `decode_message` also reads CloudEvents binary mode (attributes in `ce-` headers).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import msgspec

from vsmesh.errors import InvalidEvent, UnknownEventType
from vsmesh.events import binary
from vsmesh.events.envelope import Event
from vsmesh.events.registry import REGISTRY, EventRegistry

_encoder = msgspec.json.Encoder()

# Envelope attributes an event cannot be read without: the tag and the Struct's required fields.
_REQUIRED_ATTRIBUTES = ["type", *(f.name for f in msgspec.structs.fields(Event) if f.required)]


def encode_event(event: Event) -> bytes:
    return _encoder.encode(event)


def decode_event(payload: bytes, registry: EventRegistry = REGISTRY) -> Event:
    """Decode and validate one structured-mode event; errors name the type and the path that failed."""
    try:
        event = registry.decoder.decode(payload)
    except msgspec.DecodeError as e:
        return _decode_other_version(payload, e, registry)
    if event.schemaversion != event.version:
        # It may fit today's shape by chance, but it means what its own version meant: upcast it.
        return event_from_dict(_json_object(payload, None), registry)
    return event


def decode_message(data: bytes, headers: Mapping[str, str] | None, registry: EventRegistry = REGISTRY) -> Event:
    """Decode a NATS message in either content mode: binary when a `ce-specversion` header is present."""
    if headers is None or not binary.is_binary(headers):
        return decode_event(data, registry)
    content_type = next((v for k, v in headers.items() if k.lower() == "content-type"), None)
    if content_type and content_type.lower().startswith("application/cloudevents"):
        content_type = None  # names the structured format, not the data's type
    raw = binary.event_dict(binary.attributes(headers), data, _REQUIRED_ATTRIBUTES, content_type)
    return event_from_dict(raw, registry)


def event_from_dict(raw: dict[str, Any], registry: EventRegistry = REGISTRY) -> Event:
    """A typed event from its JSON dict at any supported version; upcasts, then validates."""
    event_type = _known_type(raw, registry)
    cls = registry[event_type]
    version = _version_of(raw, event_type)
    if version != cls.version:
        if not registry.upcasters.reaches(event_type, version, cls.version):
            raise InvalidEvent(_unsupported(raw, event_type, version, registry))
        raw = registry.upcasters.upcast(raw, event_type, version, cls.version)
    try:
        return msgspec.convert(raw, cls)
    except msgspec.ValidationError as e:
        read_as = f" (stored as v{version}, read as v{cls.version})" if version != cls.version else ""
        raise InvalidEvent(f"invalid {event_type} event {_id(raw)}{read_as}: {e}".replace("  ", " ")) from e


def _decode_other_version(payload: bytes, error: msgspec.DecodeError, registry: EventRegistry) -> Event:
    """The union decode failed: either an older version (upcast it) or a bad event (say what is wrong)."""
    raw = _json_object(payload, error)
    event_type = _known_type(raw, registry)
    version = raw.get("schemaversion", 1)
    if version == registry.version(event_type) or not isinstance(version, int) or isinstance(version, bool):
        raise InvalidEvent(f"invalid {event_type} event {_id(raw)}: {error}".replace("  ", " "))
    return event_from_dict(raw, registry)


def _json_object(payload: bytes, error: msgspec.DecodeError | None) -> dict[str, Any]:
    try:
        raw = msgspec.json.decode(payload)
    except msgspec.DecodeError as e:
        raise InvalidEvent(f"not a JSON event ({error or e}); send one CloudEvents JSON object") from e
    if not isinstance(raw, dict):
        raise InvalidEvent(f"not a JSON event (a JSON {type(raw).__name__}); send one CloudEvents JSON object")
    return raw


def _known_type(raw: dict[str, Any], registry: EventRegistry) -> str:
    event_type = raw.get("type")
    if event_type is None:
        raise InvalidEvent("event has no `type`; set the CloudEvents `type` attribute, e.g. ops-health-checked")
    if not isinstance(event_type, str) or event_type not in registry:
        raise UnknownEventType(f"unknown event type {event_type!r}; see `vsmesh schema list` for the known types")
    return event_type


def _version_of(raw: dict[str, Any], event_type: str) -> int:
    version = raw.get("schemaversion", 1)  # CloudEvents extension; 1 when absent (DESIGN.md, Events)
    if not isinstance(version, int) or isinstance(version, bool):
        raise InvalidEvent(f"invalid {event_type} event {_id(raw)}: schemaversion must be an integer, got {version!r}")
    return version


def _unsupported(raw: dict[str, Any], event_type: str, version: int, registry: EventRegistry) -> str:
    supported = ", ".join(f"v{v}" for v in registry.supported_versions(event_type))
    current = registry.version(event_type)
    hint = "upgrade vsmesh to read it" if version > current else f"no upcaster leads from v{version}"
    return (
        f"unsupported schemaversion {version} of {event_type} event {_id(raw)}: "
        f"this build reads {supported}; {hint}".replace("  ", " ")
    )


def _id(raw: dict[str, Any]) -> str:
    value = raw.get("id")
    return value if isinstance(value, str) else ""
