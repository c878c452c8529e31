"""The type registry: every event type, its Struct and its horizon, and one decoder built once."""

from __future__ import annotations

from collections.abc import Iterable
from types import ModuleType
from typing import Union

import msgspec

from vsmesh.events.envelope import Event, Horizon
from vsmesh.events.schemas import FAMILIES


class EventRegistry:
    """Knows every event type; builds one tagged-union decoder at construction."""

    def __init__(self, families: Iterable[ModuleType]) -> None:
        self._types: dict[str, type[Event]] = {}
        for module in families:
            for obj in vars(module).values():
                if isinstance(obj, type) and issubclass(obj, Event) and obj is not Event:
                    tag = obj.__struct_config__.tag
                    if tag in self._types and self._types[tag] is not obj:
                        raise TypeError(f"event type {tag!r} is defined twice")
                    self._types[tag] = obj
        self.decoder = msgspec.json.Decoder(Union[tuple(self._types.values())])  # noqa: UP007

    def __contains__(self, event_type: str) -> bool:
        return event_type in self._types

    def __getitem__(self, event_type: str) -> type[Event]:
        return self._types[event_type]

    def types(self) -> list[str]:
        return sorted(self._types)

    def horizon(self, event_type: str) -> Horizon:
        return self._types[event_type].horizon


REGISTRY = EventRegistry(FAMILIES)
