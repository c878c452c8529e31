"""One package per hub, each with the same parts: manifest, tables, projector, contract."""

from __future__ import annotations

from types import ModuleType

from vsmesh.errors import ConfigError
from vsmesh.hubs import canon, dev, fin, ops

HUBS: dict[str, ModuleType] = {h.manifest.SLUG: h for h in (ops, dev, fin, canon)}


def hub(slug: str) -> ModuleType:
    """The hub package for a slug, or a clear error listing the known ones."""
    try:
        return HUBS[slug]
    except KeyError:
        raise ConfigError(f"unknown hub {slug!r}; known hubs: {', '.join(sorted(HUBS))}") from None
