"""The generic hub core every hub shares: capabilities, capability requests, messages, annotations.

They are what every hub offers in the cross-hub contract (capability routing, messages between hubs,
annotations), so they carry no hub prefix: every hub publishes them under its own `hub` attribute.
Follow-ups name the id of the event that opened the thing they follow.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, ClassVar, Literal

from vsmesh.events.envelope import Event, EventData, Horizon
from vsmesh.events.schemas.common import EventId

RequestStatus = Literal["accepted", "in-progress", "done", "rejected", "cancelled"]
Priority = Literal["low", "normal", "high", "urgent"]


class CapabilityRegisteredData(EventData, frozen=True):
    capability: str  # a slug, e.g. provision-k3s-cluster
    description: str | None = None
    tags: list[str] = []
    parameters_schema: dict[str, Any] | None = None  # a JSON Schema for request parameters


class CapabilityRegistered(Event, frozen=True, tag="capability-registered"):
    """A hub offers a capability others may request."""

    data: CapabilityRegisteredData
    horizon: ClassVar[Horizon] = Horizon.TACTICAL


class CapabilityRequestedData(EventData, frozen=True):
    capability: str
    provider: str | None = None  # the hub asked; None lets the mesh route it
    summary: str | None = None
    parameters: dict[str, Any] = {}
    due_by: dt.datetime | None = None


class CapabilityRequested(Event, frozen=True, tag="capability-requested"):
    """A hub asked another hub to do something it offers."""

    data: CapabilityRequestedData
    horizon: ClassVar[Horizon] = Horizon.TACTICAL


class CapabilityRequestUpdatedData(EventData, frozen=True):
    request_id: EventId
    status: RequestStatus
    note: str | None = None


class CapabilityRequestUpdated(Event, frozen=True, tag="capability-request-updated"):
    """A capability request was accepted, progressed, finished or refused."""

    data: CapabilityRequestUpdatedData
    horizon: ClassVar[Horizon] = Horizon.TACTICAL


class MessageSentData(EventData, frozen=True):
    to: str  # a hub slug or an actor
    body: str
    title: str | None = None
    priority: Priority = "normal"
    reply_to: EventId | None = None


class MessageSent(Event, frozen=True, tag="message-sent"):
    """A message from one hub or actor to another."""

    data: MessageSentData
    horizon: ClassVar[Horizon] = Horizon.TACTICAL


class MessageReadData(EventData, frozen=True):
    message_id: EventId


class MessageRead(Event, frozen=True, tag="message-read"):
    """The recipient read a message."""

    data: MessageReadData
    horizon: ClassVar[Horizon] = Horizon.TACTICAL


class AnnotationAddedData(EventData, frozen=True):
    category: str  # one of the hub manifest's annotation categories, e.g. ops-backup-gap
    body: str
    target_event_id: EventId | None = None  # the event annotated, if not the whole entity


class AnnotationAdded(Event, frozen=True, tag="annotation-added"):
    """A note on an entity or event, in one of the hub's annotation categories."""

    data: AnnotationAddedData
    horizon: ClassVar[Horizon] = Horizon.TACTICAL
