"""Publishing events: validate, encode once, publish with the event id as `Nats-Msg-Id`."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterable, Iterable
from dataclasses import dataclass
from typing import Any

import msgspec
from nats.js import JetStreamContext
from nats.js.errors import APIError

from vsmesh.bus.streams import stream_for
from vsmesh.bus.subjects import check_slug, event_subject
from vsmesh.errors import InvalidEvent, PublishError, UnknownEventType
from vsmesh.events.codec import encode_event
from vsmesh.events.envelope import Event, new_event_id, utc_now
from vsmesh.events.registry import REGISTRY, EventRegistry
from vsmesh.settings import Settings


@dataclass(frozen=True)
class Published:
    event_id: str
    stream: str
    sequence: int
    duplicate: bool = False


class Publisher:
    """Turns (type, hub, subject, data) into stored events; one per call or many, pipelined."""

    def __init__(
        self,
        js: JetStreamContext,
        settings: Settings,
        *,
        source: str = "vsmesh/cli",
        registry: EventRegistry = REGISTRY,
    ) -> None:
        self._js = js
        self._settings = settings
        self._source = source
        self._registry = registry

    def build(
        self,
        event_type: str,
        *,
        hub: str,
        subject: str | None,
        data: Any,
        event_id: str | None = None,
        correlation_id: str | None = None,
        causation_id: str | None = None,
    ) -> Event:
        """Validate the parts into a typed event; errors name the field and what was expected."""
        if event_type not in self._registry:
            raise UnknownEventType(f"unknown event type {event_type!r}; see `vsmesh schema list` for the known types")
        check_slug(hub, "hub")
        cls = self._registry[event_type]
        event_id = event_id or new_event_id()
        try:
            return msgspec.convert(
                {
                    "type": event_type,
                    "specversion": "1.0",
                    "id": event_id,
                    "source": self._source,
                    "subject": subject,
                    "time": utc_now(),
                    "hub": hub,
                    "actor": self._settings.actor,
                    "actorkind": self._settings.actor_kind,
                    "correlationid": correlation_id or event_id,
                    "causationid": causation_id,
                    "schemaversion": cls.version,
                    "data": data if data is not None else {},
                },
                cls,
            )
        except msgspec.ValidationError as e:
            raise InvalidEvent(f"invalid {event_type} event: {e}") from e

    def _prepare(self, event: Event) -> tuple[str, bytes, dict[str, str], str]:
        horizon = type(event).horizon
        payload = encode_event(event)
        if len(payload) > self._settings.max_event_bytes:
            raise InvalidEvent(
                f"event {event.id} is {len(payload)} bytes, over the {self._settings.max_event_bytes}-byte "
                "limit; put large content elsewhere and link it (or raise VSMESH_MAX_EVENT_BYTES)"
            )
        subject = event_subject(horizon, event.hub, event.type, event.subject)
        return subject, payload, {"Nats-Msg-Id": event.id}, stream_for(horizon)

    async def publish(self, event: Event) -> Published:
        """Publish one event and wait for the stream's acknowledgement."""
        subject, payload, headers, stream = self._prepare(event)
        try:
            ack = await self._js.publish(subject, payload, headers=headers, stream=stream)
        except APIError as e:
            raise PublishError(f"stream {stream} refused event {event.id}: {e.description}") from e
        except (TimeoutError, ConnectionError) as e:
            raise PublishError(f"no acknowledgement for event {event.id} on {subject}: {e!r}") from e
        return Published(event.id, ack.stream, ack.seq, bool(ack.duplicate))

    async def publish_many(
        self, events: Iterable[Event] | AsyncIterable[Event], *, window: int = 4096
    ) -> list[Published]:
        """Publish many events pipelined (at most `window` unacknowledged), in order of the input."""
        pending: list[tuple[Event, asyncio.Future]] = []
        results: list[Published] = []

        async def settle(upto: int) -> None:
            while len(pending) > upto:
                event, future = pending.pop(0)
                try:
                    ack = await future
                except APIError as e:
                    raise PublishError(f"stream refused event {event.id}: {e.description}") from e
                results.append(Published(event.id, ack.stream, ack.seq, bool(ack.duplicate)))

        async for event in _aiter(events):
            subject, payload, headers, _stream = self._prepare(event)
            future = await self._js.publish_async(subject, payload, headers=headers)
            pending.append((event, future))
            if len(pending) >= window:
                await settle(window // 2)
        await settle(0)
        return results


async def _aiter(events: Iterable[Event] | AsyncIterable[Event]):
    if isinstance(events, AsyncIterable):
        async for e in events:
            yield e
    else:
        for e in events:
            yield e
