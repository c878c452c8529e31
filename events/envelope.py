"""The envelope: CloudEvents 1.0, structured JSON mode, with vsmesh's extension attributes.

Each event type is a subclass tagged with its CloudEvents `type`, so one msgspec decode reads the
envelope and the typed `data` together.
"""

from __future__ import annotations

import datetime as dt
import enum
import uuid
from typing import Any, ClassVar, Literal

import msgspec


class Horizon(enum.StrEnum):
    """Time horizons; each has its own stream and retention."""

    OPERATIONAL = "operational"
    TACTICAL = "tactical"
    STRATEGIC = "strategic"
    CONSTITUTIONAL = "constitutional"


ActorKind = Literal["human", "agent", "service"]


class EventData(msgspec.Struct, kw_only=True, frozen=True, omit_defaults=True):
    """Base of every `data` payload; free-form `metadata` travels with every event."""

    metadata: dict[str, Any] = {}


class Event(msgspec.Struct, kw_only=True, frozen=True, omit_defaults=True, tag_field="type"):
    """A CloudEvents 1.0 event. Subclasses set `tag=` to their type and narrow `data`."""

    specversion: Literal["1.0"]
    id: str
    source: str
    subject: str | None = None
    time: dt.datetime
    datacontenttype: str = "application/json"
    dataschema: str | None = None
    hub: str
    actor: str
    actorkind: ActorKind
    correlationid: str | None = None
    causationid: str | None = None
    schemaversion: int = 1
    data: Any = None

    horizon: ClassVar[Horizon]
    version: ClassVar[int] = 1

    @property
    def type(self) -> str:
        """The CloudEvents type, i.e. this class's tag."""
        return self.__struct_config__.tag  # type: ignore[return-value]


def new_event_id() -> str:
    """A fresh, time-ordered event id (UUIDv7 where Python has it)."""
    maker = getattr(uuid, "uuid7", None)
    return str(maker() if maker else uuid.uuid4())


def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)
