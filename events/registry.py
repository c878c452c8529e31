"""The type registry: every event type, its Struct, horizon and version, and one decoder built once."""

from __future__ import annotations

from collections.abc import Iterable
from types import ModuleType
from typing import Union

import msgspec

from vsmesh.events.envelope import Event, Horizon
from vsmesh.events.schemas import FAMILIES
from vsmesh.events.upcasters import UPCASTERS, Upcasters


class EventRegistry:
    """Knows every event type; builds one tagged-union decoder and checks the upcaster chains at construction."""

    def __init__(self, families: Iterable[ModuleType], upcasters: Upcasters = UPCASTERS) -> None:
        self._types: dict[str, type[Event]] = {}
        self._families: dict[str, str] = {}
        self.upcasters = upcasters
        for module in families:
            self._add_types(module)
        self._rebuild()

    def add_family(self, module: ModuleType) -> None:
        """A hub's own event family (hubs/hub.py `schemas`), found with the hub."""
        self._add_types(module)
        self._rebuild()

    def _add_types(self, module: ModuleType) -> None:
        # A hub's own family is `events` in its package: it names itself with FAMILY (its types' prefix).
        family = getattr(module, "FAMILY", module.__name__.rsplit(".", 1)[-1])
        for obj in vars(module).values():
            if isinstance(obj, type) and issubclass(obj, Event) and obj is not Event:
                tag = obj.__struct_config__.tag
                if tag in self._types and self._types[tag] is not obj:
                    raise TypeError(f"event type {tag!r} is defined twice")
                self._types[tag] = obj
                self._families[tag] = family

    def _rebuild(self) -> None:
        self.decoder = msgspec.json.Decoder(Union[tuple(self._types.values())])  # noqa: UP007
        self.upcasters.check({tag: cls.version for tag, cls in self._types.items()})

    def add_generic(self, event_type: str, horizon: Horizon) -> bool:
        """Accept a manifest-declared type with no schema (a `GenericEvent`); False when it is already known."""
        from vsmesh.events.generic import generic_type

        if event_type in self._types:
            return False
        self._types[event_type] = generic_type(event_type, horizon)
        self.decoder = msgspec.json.Decoder(Union[tuple(self._types.values())])  # noqa: UP007
        return True

    def __contains__(self, event_type: str) -> bool:
        return event_type in self._types

    def __getitem__(self, event_type: str) -> type[Event]:
        return self._types[event_type]

    def types(self) -> list[str]:
        return sorted(self._types)

    def horizon(self, event_type: str) -> Horizon:
        return self._types[event_type].horizon

    def version(self, event_type: str) -> int:
        """The current schema version: what publishers write and every older version is upcast to."""
        return self._types[event_type].version

    def family(self, event_type: str) -> str:
        """The family that defines the type, e.g. `ops` (the type's prefix, or `core`/`hub`); `generic` for a type
        a manifest declared without a schema."""
        return self._families.get(event_type, "generic")

    def supported_versions(self, event_type: str) -> list[int]:
        """The schema versions this build can read for the type."""
        return self.upcasters.supported(event_type, self.version(event_type))


REGISTRY = EventRegistry(FAMILIES)
