"""What the mesh knows of active manifests, in memory: the accepted types per hub, and the registry's claims.

Loaded from the registry read model at start and refreshed while running (hubs/registry/service.py);
`vsmesh publish` fills it from the registry contract. A hub with no bootstrapped manifest is not
checked (coded hubs keep working before their manifest is bootstrapped).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from vsmesh.events.envelope import Horizon
from vsmesh.events.registry import REGISTRY
from vsmesh.hubs.core import SHARED_TYPES


@dataclass
class ActiveManifest:
    slug: str
    revision: int
    event_types: frozenset[str]
    horizon: Horizon = Horizon.TACTICAL


@dataclass
class Vocabularies:
    active: dict[str, ActiveManifest] = field(default_factory=dict)
    coded: dict[str, frozenset[str]] = field(default_factory=dict)  # a coded hub's EVENT_TYPES

    def declare_coded(self, hub: str, event_types: Iterable[str]) -> None:
        """A coded hub's own types: what it accepts while no manifest of it is active in the registry."""
        self.coded[hub] = frozenset(event_types)

    def learn(self, manifest: ActiveManifest) -> None:
        """Make the manifest the hub's active one; declared types without a schema become generic types."""
        for event_type in manifest.event_types:
            REGISTRY.add_generic(event_type, manifest.horizon)
        self.active[manifest.slug] = manifest

    def accepts(self, hub: str, event_type: str) -> bool:
        found = self.active[hub].event_types if hub in self.active else self.coded.get(hub)
        return found is None or event_type in SHARED_TYPES or event_type in found

    def refusal(self, hub: str, event_type: str) -> str | None:
        """Why the hub refuses the type, or None when it accepts it."""
        if self.accepts(hub, event_type):
            return None
        found = self.active.get(hub)
        if found is None:
            declared = ", ".join(sorted(self.coded[hub]))
            return f"{hub} does not accept {event_type!r}: its event types are {declared}; publish it to its own hub"
        declared = ", ".join(sorted(found.event_types))
        return (
            f"{hub} does not accept {event_type!r}: it is not in {hub}'s active manifest "
            f"(revision {found.revision}: {declared}); declare it in the manifest and run `vsmesh hub bootstrap`"
        )


VOCABULARIES = Vocabularies()


def from_row(row: dict) -> ActiveManifest:
    """An ActiveManifest from a registry `manifests` row (or the contract's answer of one)."""
    return ActiveManifest(
        row["slug"],
        row.get("revision") or 1,
        frozenset(row.get("event_types") or []),
        Horizon(row.get("horizon") or "tactical"),
    )
