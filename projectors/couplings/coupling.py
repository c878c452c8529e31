"""Couplings: a reacting hub's rule that turns another hub's event into events of its own.

A coupling names its sources (stream → subject filter) and a reaction: a function of one event that
returns the events to emit (type, hub, subject, data). Most reactions are pure; one that needs a hub's
read model (fin's runway) asks through the cross-hub contract, never through the database.

Each emitted event's id is `uuid5(NAMESPACE, "{coupling}:{cause id}[:{key}]")`, so a replay or a retry
derives the same id and is stored once. The engine (`projectors/couplings/reactor.py`) does the I/O; the reacting
hub owns its couplings in its own `couplings.py`, and `hubs/coupling.py` gathers them.
"""

from __future__ import annotations

import functools
import inspect
import uuid
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Any, Protocol

from vsmesh.bus.streams import stream_for
from vsmesh.errors import ConfigError
from vsmesh.events.envelope import Event
from vsmesh.projectors.engine.projection import event_type_of

NAMESPACE = uuid.UUID("5b0e6a52-8f0c-4c1e-9a53-6d1f2b7c0c51")  # never change: ids already stored derive from it


@dataclass(frozen=True)
class Emit:
    """One event a reaction asks for; `key` tells apart several events emitted for the same cause."""

    type: str
    hub: str
    subject: str | None
    data: dict[str, Any]
    key: str = ""
    correlation_id: str | None = None  # default: the cause's correlation id


class Context(Protocol):
    """What an async reaction may use besides its event: where the event sits, a contract request to a
    hub (answers from its read model), and the events couplings emitted before (by id)."""

    stream: str
    seq: int

    async def ask(self, hub: str, operation: str, request: dict[str, Any]) -> Any: ...

    async def emitted(self, event_id: str) -> dict[str, Any] | None: ...


Reaction = Callable[[Event], list[Emit]] | Callable[[Event, Context], Awaitable[list[Emit]]]


@dataclass(frozen=True)
class Coupling:
    """A named reaction from one hub's events (`source_hub`, of the classes in `reacts_to`) to another's."""

    name: str
    source_hub: str
    target_hub: str
    reacts_to: tuple[type[Event], ...]  # the cause classes; other events on the source subjects pass undecoded
    react: Reaction
    emits: tuple[type[Event], ...]  # what it may emit, checked against the target hub's vocabulary
    description: str = ""

    def __post_init__(self) -> None:
        if not self.reacts_to:
            raise ConfigError(f"coupling {self.name} reacts to no event class; name at least one in reacts_to")

    @functools.cached_property
    def types(self) -> frozenset[str]:
        """The cause types, as stored in the subject's third token (a message is filtered before decoding)."""
        return frozenset(event_type_of(c) for c in self.reacts_to)

    @functools.cached_property
    def sources(self) -> dict[str, str]:
        """Stream → subject filter, derived from the cause classes: one type on a stream is filtered by the
        server, several by the reactor (one consumer per stream either way)."""
        by_stream: dict[str, list[str]] = {}
        for cls in self.reacts_to:
            by_stream.setdefault(stream_for(cls.horizon), []).append(event_type_of(cls))
        return {
            stream: f"{stream.lower()}.{self.source_hub}." + (f"{types[0]}.>" if len(types) == 1 else ">")
            for stream, types in by_stream.items()
        }

    @property
    def emitted_types(self) -> tuple[str, ...]:
        return tuple(event_type_of(c) for c in self.emits)

    async def reactions(self, event: Event, ctx: Context) -> list[Emit]:
        if inspect.iscoroutinefunction(self.react):
            return await self.react(event, ctx)  # type: ignore[call-arg]
        return self.react(event)  # type: ignore[call-arg]


def derived_id(coupling: str, cause_id: str, key: str = "") -> str:
    """The emitted event's id: the same coupling and cause always give the same id."""
    name = f"{coupling}:{cause_id}" + (f":{key}" if key else "")
    return str(uuid.uuid5(NAMESPACE, name))


def enabled(couplings: Iterable[Coupling], disabled: Iterable[str]) -> list[Coupling]:
    """The couplings not switched off; an unknown name in the setting fails, naming the known ones."""
    couplings = list(couplings)
    names = {c.name for c in couplings}
    unknown = sorted(set(disabled) - names)
    if unknown:
        raise ConfigError(
            f"VSMESH_COUPLINGS_DISABLED names unknown coupling(s) {', '.join(unknown)}; "
            f"known: {', '.join(sorted(names))}"
        )
    off = set(disabled)
    return [c for c in couplings if c.name not in off]
