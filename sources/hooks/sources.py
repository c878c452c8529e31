"""The tools a hook can be registered for, by the name in its URL (`/hooks/{source}/{name}`)."""

from __future__ import annotations

from vsmesh.errors import ConfigError
from vsmesh.sources.hooks import alertmanager, argocd, forge, standard
from vsmesh.sources.hooks.source import Source

SOURCES: dict[str, Source] = {s.name: s for s in (alertmanager.SOURCE, *forge.SOURCES, argocd.SOURCE, standard.SOURCE)}


def source(name: str) -> Source:
    """The source named `name`; ConfigError listing the known ones."""
    found = SOURCES.get(name)
    if found is None:
        raise ConfigError(f"unknown hook source {name!r}; use one of {', '.join(SOURCES)}")
    return found
