"""Event types declared only by a hub manifest: no Struct in events/schemas, so one generic shape.

msgspec decodes by tag, one Struct per type, so each declared type gets its own tiny subclass of
`GenericEvent` (made at run time, `EventRegistry.add_generic`) whose `data` is any JSON object; its
`metadata` key travels like every event's.
"""

from __future__ import annotations

from typing import Any, ClassVar

from vsmesh.events.envelope import Event, Horizon


class GenericEvent(Event, frozen=True):
    """Base of manifest-declared types; `data` is kept whole."""

    data: dict[str, Any] = {}
    horizon: ClassVar[Horizon] = Horizon.TACTICAL


def generic_type(event_type: str, horizon: Horizon) -> type[GenericEvent]:
    name = "".join(p.title() for p in event_type.split("-")) + "Generic"
    return type(name, (GenericEvent,), {"horizon": horizon, "__module__": __name__}, tag=event_type, frozen=True)


def metadata_of(event: Event) -> dict[str, Any]:
    """An event's metadata, whatever its data's shape."""
    data = event.data
    found = data.get("metadata") if isinstance(data, dict) else getattr(data, "metadata", None)
    return found if isinstance(found, dict) else {}
