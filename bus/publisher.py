"""Publishing events: validate, encode once, publish with the event id as `Nats-Msg-Id`.

A retry of the same event (same id) is stored once: JetStream drops duplicates within the stream's
duplicate window, so retries after a NATS restart are safe.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterable, Iterable
from typing import Any, NamedTuple

import msgspec
import structlog
from nats.aio.client import Client
from nats.errors import ConnectionClosedError, NoRespondersError
from nats.errors import TimeoutError as NatsTimeout
from nats.js import JetStreamContext
from nats.js.errors import APIError, NoStreamResponseError, ServiceUnavailableError

from vsmesh.bus.chain import CHAINED_STREAM, append
from vsmesh.bus.pipeline import AckPipeline
from vsmesh.bus.streams import stream_for
from vsmesh.bus.subjects import check_slug, entity_token, event_subject
from vsmesh.errors import ConcurrencyConflict, InvalidEvent, PermissionDenied, PublishError, UnknownEventType
from vsmesh.events.codec import encode_event
from vsmesh.events.envelope import Event, new_event_id, utc_now
from vsmesh.events.registry import REGISTRY, EventRegistry
from vsmesh.settings import Settings

log = structlog.get_logger(__name__)

WRONG_LAST_SEQUENCE = 10071  # JetStream's error code for a failed expected-sequence check
RETRYABLE = (
    NatsTimeout,
    TimeoutError,
    NoRespondersError,
    NoStreamResponseError,
    ConnectionClosedError,
    ServiceUnavailableError,
)
EXPECTED_SUBJECT_SEQ = "Nats-Expected-Last-Subject-Sequence"
EXPECTED_SUBJECT_FILTER = "Nats-Expected-Last-Subject-Sequence-Subject"


class Published(msgspec.Struct, frozen=True):
    """Where an event was stored; `duplicate` when the stream already had its id."""

    event_id: str
    stream: str
    sequence: int
    duplicate: bool = False


class _Wire(NamedTuple):
    subject: str
    payload: bytes
    headers: dict[str, str]
    stream: str


class Publisher:
    """Turns (type, hub, subject, data) into stored events; one per call or many, pipelined."""

    def __init__(
        self,
        js: JetStreamContext,
        settings: Settings,
        *,
        source: str = "vsmesh/cli",
        registry: EventRegistry = REGISTRY,
        attempts: int = 6,
        ack_timeout: float = 2.0,
    ) -> None:
        self._js = js
        self._settings = settings
        self._source = source
        self._registry = registry
        self._attempts = attempts
        self._ack_timeout = ack_timeout

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
            event = msgspec.convert(
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
        check_actor(event)
        return event

    def _wire(self, event: Event, expect_entity_seq: int | None = None) -> _Wire:
        check_actor(event)
        horizon = type(event).horizon
        payload = encode_event(event)
        if len(payload) > self._settings.max_event_bytes:
            raise InvalidEvent(
                f"event {event.id} is {len(payload)} bytes, over the {self._settings.max_event_bytes}-byte "
                "limit; put large content elsewhere and link it (or raise VSMESH_MAX_EVENT_BYTES)"
            )
        headers = {"Nats-Msg-Id": event.id}
        if expect_entity_seq is not None:
            # The check spans every type of the entity, not only this subject (NATS ≥ 2.11).
            headers[EXPECTED_SUBJECT_SEQ] = str(expect_entity_seq)
            headers[EXPECTED_SUBJECT_FILTER] = entity_filter(horizon, event.hub, event.subject)
        subject = event_subject(horizon, event.hub, event.type, event.subject)
        return _Wire(subject, payload, headers, stream_for(horizon))

    async def publish(self, event: Event, *, expect_entity_seq: int | None = None) -> Published:
        """Publish one event and wait for the stream's acknowledgement, retrying while NATS is away.

        With `expect_entity_seq`, the event is stored only if the entity's last event (any type) is
        still at that stream sequence (0: the entity has none yet); otherwise `ConcurrencyConflict`.
        """
        wire = self._wire(event, expect_entity_seq)
        return await self._send(event, wire)

    async def _send(self, event: Event, wire: _Wire) -> Published:
        delay = 0.1
        error: Exception | None = None
        for attempt in range(1, self._attempts + 1):
            try:
                ack = await self._acked(event, wire)
                return Published(event.id, ack.stream, ack.seq, bool(ack.duplicate))
            except APIError as e:
                if e.err_code == WRONG_LAST_SEQUENCE:
                    raise _conflict(event, wire, e) from e
                if not isinstance(e, ServiceUnavailableError):
                    raise PublishError(f"stream {wire.stream} refused event {event.id}: {e.description}") from e
                error = e
            except RETRYABLE as e:
                error = e
            log.warning("publish retried", event_id=event.id, subject=wire.subject, attempt=attempt, error=repr(error))
            await asyncio.sleep(delay)
            delay = min(delay * 2, 2.0)
        if isinstance(error, NoStreamResponseError):
            raise PublishError(
                f"no stream takes {wire.subject} (event {event.id}, {self._attempts} attempts); "
                "`vsmesh up` creates the streams"
            )
        raise PublishError(
            f"no acknowledgement for event {event.id} on {wire.subject} after {self._attempts} attempts; "
            "is NATS up (`vsmesh status`)?"
        )

    async def _acked(self, event: Event, wire: _Wire):
        """The stream's acknowledgement; PublishError at once when the server refuses the subject to this user."""
        if wire.stream == CHAINED_STREAM:  # a link of the tamper-evident record (bus/chain.py)
            publish = append(self._js, wire.subject, wire.payload, wire.headers, timeout=self._ack_timeout)
        else:
            publish = self._js.publish(
                wire.subject, wire.payload, headers=wire.headers, stream=wire.stream, timeout=self._ack_timeout
            )
        denials = getattr(self._client, "denials", None)
        if denials is None:  # a plain nats-py client: a refusal shows only as a missing acknowledgement
            return await publish
        try:
            return await denials.guard(wire.subject, publish)
        except PermissionDenied:
            user = self._client.options.get("user") or "the default user"
            raise PublishError(
                f"NATS user {user!r} may not publish on {wire.subject} (event {event.id}): a hub's user publishes "
                "only its own hub's subjects and no governance events; use that hub's credentials or the admin's"
            ) from None

    @property
    def _client(self) -> Client:
        return self._js._nc  # JetStreamContext keeps its client private; acks are plain replies on it

    async def publish_many(
        self, events: Iterable[Event] | AsyncIterable[Event], *, window: int = 4096
    ) -> list[Published]:
        """Publish many events pipelined, at most `window` unacknowledged (back-pressure).

        Results come in input order. An event whose acknowledgement is lost is sent again alone
        (same id, so stored once); it may then sit later in the stream than its neighbours.
        """
        sent: list[tuple[Event, _Wire]] = []
        async with AckPipeline(self._client, window) as pipeline:

            async def push(event: Event) -> None:
                wire = self._wire(event)
                sent.append((event, wire))
                if wire.stream == CHAINED_STREAM:
                    return  # links of the chain go one after the other, after the pipeline (_settle)
                try:
                    await pipeline.send(len(sent) - 1, wire.subject, wire.payload, wire.headers)
                except RETRYABLE:
                    pass  # no ack will come; resent below

            if isinstance(events, AsyncIterable):
                async for event in events:
                    await push(event)
            else:
                for event in events:  # no async-generator hop per event on the common path
                    await push(event)
            acks = await pipeline.wait()
        return [await self._settle(event, wire, acks.get(i)) for i, (event, wire) in enumerate(sent)]

    async def _settle(self, event: Event, wire: _Wire, ack: object) -> Published:
        if ack is None or isinstance(ack, Exception):
            return await self._send(event, wire)
        if ack.error:
            if ack.error.get("err_code") == WRONG_LAST_SEQUENCE:
                raise PublishError(f"event {event.id} failed a sequence check: {ack.error.get('description')}")
            if ack.error.get("code") == 503:
                return await self._send(event, wire)
            raise PublishError(f"stream {wire.stream} refused event {event.id}: {ack.error.get('description')}")
        return Published(event.id, ack.stream, ack.seq, ack.duplicate)

    async def entity_sequence(self, event_type: str, hub: str, subject: str | None) -> int:
        """The stream sequence of the entity's latest event of any type (0: none), for `expect_entity_seq`."""
        horizon = self._registry.horizon(event_type)
        try:
            msg = await self._js.get_last_msg(stream_for(horizon), entity_filter(horizon, hub, subject))
        except APIError as e:
            if e.code == 404:
                return 0
            raise PublishError(f"cannot read the last event of {subject} on {hub}: {e.description}") from e
        return msg.seq or 0


ACTOR_KINDS = ("human", "agent", "service")


def check_actor(event: Event) -> None:
    """Every stored event names who acted and what kind of actor it is; refuse one that does not."""
    actor = event.actor if isinstance(event.actor, str) else ""
    if not actor.strip() or any(ord(c) < 0x20 or ord(c) == 0x7F for c in actor):
        raise InvalidEvent(
            f"event {event.id} names no actor ({event.actor!r}); "
            "name who acts, in printable text, with --actor or VSMESH_ACTOR"
        )
    if event.actorkind not in ACTOR_KINDS:
        raise InvalidEvent(
            f"event {event.id} has actor kind {event.actorkind!r}; use human, agent or service "
            "(--actor-kind or VSMESH_ACTOR_KIND)"
        )


def entity_filter(horizon: str, hub: str, subject: str | None) -> str:
    """Every event of one entity of one hub, whatever its type."""
    return f"{horizon}.{hub}.*.{entity_token(subject)}"


def _conflict(event: Event, wire: _Wire, error: APIError) -> ConcurrencyConflict:
    expected = wire.headers.get(EXPECTED_SUBJECT_SEQ)
    return ConcurrencyConflict(
        f"{event.subject or 'the entity'} of {event.hub} changed since sequence {expected} "
        f"({error.description}); read it again and retry"
    )
