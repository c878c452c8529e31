"""The envelope: CloudEvents 1.0, structured JSON mode, with vsmesh's extension attributes.

Each event type is a subclass tagged with its CloudEvents `type`, so one msgspec decode reads the
envelope and the typed `data` together.
"""

from __future__ import annotations

import datetime as dt
import enum
import random
import time
from typing import Any, ClassVar, Literal

import msgspec

_random_bits = random.Random().getrandbits  # seeded from os.urandom at import


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
    # A cascade revert takes back what an event caused, except a record of what already happened outside the
    # mesh (a person was told): that stays true whatever becomes of its cause.
    reverted_with_cause: ClassVar[bool] = True

    @property
    def type(self) -> str:
        """The CloudEvents type, i.e. this class's tag."""
        # Cached per class: msgspec builds a new StructConfig on every `__struct_config__` read, and the
        # read paths ask every event its type (provenance, summaries).
        cls = self.__class__
        found = _TYPES.get(cls)
        if found is None:
            found = _TYPES[cls] = cls.__struct_config__.tag  # type: ignore[assignment]
        return found  # type: ignore[return-value]


_TYPES: dict[type[Event], str] = {}


def new_event_id() -> str:
    """A fresh, time-ordered UUIDv7 (RFC 9562) as text.

    Built by hand because `uuid.uuid4()` costs more than the rest of publishing an event; ids need
    to be unique, not secret, so the fast PRNG is enough.
    """
    value = (time.time_ns() // 1_000_000) << 80 | 0x7 << 76 | _random_bits(12) << 64 | 0b10 << 62 | _random_bits(62)
    h = f"{value:032x}"
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)
