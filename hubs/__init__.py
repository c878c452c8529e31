"""One package per hub, each with the same parts: manifest, tables, projector, contract."""

from __future__ import annotations

import importlib
from types import ModuleType

from vsmesh.errors import NotFound

# Slug -> package. Imported on first use: a hub package brings SQLAlchemy and its tables, and commands
# like `vsmesh publish` that only read vsmesh.hubs.registry should not pay for every hub (about a second).
_PACKAGES = {"ops-hub": "ops", "dev-hub": "dev", "fin-hub": "fin", "canon-hub": "canon",
             "sec-hub": "sec", "legal-hub": "legal"}  # fmt: skip


def hub(slug: str) -> ModuleType:
    """The hub package for a slug, or a clear error listing the known ones."""
    try:
        name = _PACKAGES[slug]
    except KeyError:
        raise NotFound(f"unknown hub {slug!r}; known hubs: {', '.join(sorted(_PACKAGES))}") from None
    return importlib.import_module(f"vsmesh.hubs.{name}")


def declared_types(slug: str) -> tuple[str, ...]:
    """A coded hub's own event types (its manifest module's EVENT_TYPES)."""
    return hub(slug).manifest.EVENT_TYPES


def is_coded(slug: str) -> bool:
    return slug in _PACKAGES


def __getattr__(name: str) -> dict[str, ModuleType]:
    if name != "HUBS":
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    hubs = {slug: hub(slug) for slug in _PACKAGES}
    globals()["HUBS"] = hubs
    return hubs
