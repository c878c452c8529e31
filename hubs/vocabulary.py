"""What the mesh knows of active manifests, in memory: the accepted types and annotation categories per hub.

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
from vsmesh.hubs.core.categories import ANNOTATION_TYPE, category_refusal


@dataclass
class ActiveManifest:
    slug: str
    revision: int
    event_types: frozenset[str]
    horizon: Horizon = Horizon.TACTICAL
    annotation_categories: frozenset[str] = frozenset()


@dataclass
class Vocabularies:
    active: dict[str, ActiveManifest] = field(default_factory=dict)
    coded: dict[str, frozenset[str]] = field(default_factory=dict)  # a coded hub's EVENT_TYPES
    coded_categories: dict[str, frozenset[str]] = field(default_factory=dict)  # its ANNOTATION_CATEGORIES

    def declare_coded(self, hub: str, event_types: Iterable[str], categories: Iterable[str] = ()) -> None:
        """A coded hub's own types and annotation categories: what it accepts while no manifest of it is active
        in the registry."""
        self.coded[hub] = frozenset(event_types)
        self.coded_categories[hub] = frozenset(categories)

    def learn(self, manifest: ActiveManifest) -> None:
        """Make the manifest the hub's active one; declared types without a schema become generic types."""
        for event_type in manifest.event_types:
            REGISTRY.add_generic(event_type, manifest.horizon)
        self.active[manifest.slug] = manifest

    def accepts(self, hub: str, event_type: str) -> bool:
        found = self.active[hub].event_types if hub in self.active else self.coded.get(hub)
        return found is None or event_type in SHARED_TYPES or event_type in found

    def categories(self, hub: str) -> frozenset[str] | None:
        """The hub's annotation categories; None for a hub this process knows no vocabulary of (not checked)."""
        if hub in self.active:
            return self.active[hub].annotation_categories
        return self.coded_categories.get(hub)

    def refusal(self, hub: str, event_type: str, data: object = None) -> str | None:
        """Why the hub refuses the type (or, for an annotation, its category), or None when it accepts it."""
        if self.accepts(hub, event_type):
            if event_type == ANNOTATION_TYPE and isinstance(data, dict):
                return category_refusal(hub, data.get("category"), self.categories(hub))
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
        frozenset(row.get("annotation_categories") or []),
    )
