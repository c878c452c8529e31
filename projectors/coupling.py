"""Couplings: a reacting hub's rule that turns another hub's event into events of its own.

A coupling names its sources (stream → subject filter) and a reaction: a function of one event that
returns the events to emit (type, hub, subject, data). Most reactions are pure; one that needs a hub's
read model (fin's runway) asks through the cross-hub contract, never through the database.

Each emitted event's id is `uuid5(NAMESPACE, "{coupling}:{cause id}[:{key}]")`, so a replay or a retry
derives the same id and is stored once. The engine (`projectors/reactor.py`) does the I/O; the reacting
hub owns its couplings in its own `couplings.py`, and `hubs/coupling.py` gathers them.
"""

from __future__ import annotations

import inspect
import uuid
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Any, Protocol

from vsmesh.errors import ConfigError
from vsmesh.events.envelope import Event

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
    """A named reaction from one hub (`source_hub`) to another (`target_hub`)."""

    name: str
    source_hub: str
    target_hub: str
    sources: dict[str, str]  # stream → subject filter
    react: Reaction
    types: frozenset[str]  # the source event types it reacts to; others are skipped undecoded
    emits: tuple[str, ...]  # event types it may emit, checked against the target's manifest
    description: str = ""

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
