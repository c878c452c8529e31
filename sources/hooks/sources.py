"""The tools a hook can be registered for, by the name in its URL (`/hooks/{source}/{name}`)."""

from __future__ import annotations

from vsmesh.errors import ConfigError
from vsmesh.hubs import declared_types, is_coded
from vsmesh.hubs.core import SHARED_TYPES
from vsmesh.sources.hooks import alertmanager, argocd, forge, standard
from vsmesh.sources.hooks.source import Source

SOURCES: dict[str, Source] = {s.name: s for s in (alertmanager.SOURCE, *forge.SOURCES, argocd.SOURCE, standard.SOURCE)}


def check_hub(found: Source, hub: str) -> str:
    """`hub` when it accepts what the source publishes: a coded hub must declare those types (a hub made from a
    manifest is checked per delivery, against its active manifest); ConfigError naming the fix."""
    if not is_coded(hub):
        return hub
    accepted = set(declared_types(hub)) | SHARED_TYPES
    missing = [t for t in found.event_types if t not in accepted]
    if missing:
        raise ConfigError(
            f"{hub} does not accept {', '.join(missing)}, which {found.name} hooks publish; "
            f"leave --hub out for {found.default_hub}, or name a hub that declares them"
        )
    return hub


def source(name: str) -> Source:
    """The source named `name`; ConfigError listing the known ones."""
    found = SOURCES.get(name)
    if found is None:
        raise ConfigError(f"unknown hook source {name!r}; use one of {', '.join(SOURCES)}")
    return found
