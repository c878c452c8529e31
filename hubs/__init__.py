"""The coded hubs, found through the entry-point group `vsmesh.hubs`: each one a package declaring itself with
one `Hub` (hubs/hub.py). Nothing outside a hub's folder names it; a hub may ship as a distribution of its own.
"""

from __future__ import annotations

import functools
import importlib.metadata

from vsmesh.errors import ConfigError, NotFound
from vsmesh.events.registry import REGISTRY
from vsmesh.hubs.hub import Hub, load

ENTRY_POINTS = "vsmesh.hubs"


@functools.cache
def discovered() -> dict[str, Hub]:
    """Every installed hub by slug; their own event families join the type registry on the way."""
    found: dict[str, Hub] = {}
    for point in importlib.metadata.entry_points(group=ENTRY_POINTS):
        declared = point.load()
        if not isinstance(declared, Hub):
            raise ConfigError(f"entry point {point.name} = {point.value!r} in {ENTRY_POINTS!r} is no vsmesh Hub; "
                              "point it at the hub's `Hub(...)` declaration")  # fmt: skip
        if declared.slug in found:
            raise ConfigError(f"two installed hubs are named {declared.slug!r}; uninstall one")
        for module in declared.schemas:
            REGISTRY.add_family(load(module))
        found[declared.slug] = declared
    return dict(sorted(found.items()))


def hub(slug: str) -> Hub:
    """The hub of a slug, or a clear error listing the known ones."""
    hubs = discovered()
    try:
        return hubs[slug]
    except KeyError:
        raise NotFound(f"unknown hub {slug!r}; known hubs: {', '.join(hubs)}") from None


def declared_types(slug: str) -> tuple[str, ...]:
    """A coded hub's own event types (its manifest's EVENT_TYPES)."""
    return hub(slug).event_types


def is_coded(slug: str) -> bool:
    return slug in discovered()


def __getattr__(name: str) -> dict[str, Hub]:
    if name != "HUBS":
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return discovered()
