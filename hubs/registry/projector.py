"""Projections: the registry (every hub, manifest version and widget, from the constitutional stream),
and the generic projection of a hub that has only a manifest.

Two hubs may not claim one event type: a manifest that would is recorded as `rejected`, naming both
hubs, and the hub keeps its previous manifest. The claims live in memory as well as in `claims`, since
handlers do no I/O; `vsmesh up` loads them (`RegistryFolds.load`) before the projector resumes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import msgspec

from vsmesh.events.envelope import Event
from vsmesh.events.generic import metadata_of
from vsmesh.events.governance import REGISTRY_HUB, registry_entity
from vsmesh.events.schemas.core import AnnotationAdded
from vsmesh.events.schemas.hub import HubManifestActivated, HubRegistered, WidgetCreated
from vsmesh.hubs.core import core_handlers, hub_streams
from vsmesh.hubs.core.categories import annotation_handler
from vsmesh.hubs.registry import tables as t
from vsmesh.hubs.vocabulary import SHARED_TYPES, VOCABULARIES, Vocabularies
from vsmesh.projectors.engine.changes import Changes
from vsmesh.projectors.engine.projection import Applied, Handler, Handlers, Projection, event_type_of


def conflicts(claimed: dict[str, str], slug: str, event_types: list[str]) -> dict[str, str]:
    """{event type: other hub} for each type another hub's active manifest already claims."""
    return {e: claimed[e] for e in event_types if e not in SHARED_TYPES and claimed.get(e, slug) != slug}


def conflict_message(slug: str, clashes: dict[str, str]) -> str:
    by_hub: dict[str, list[str]] = {}
    for event_type, other in sorted(clashes.items()):
        by_hub.setdefault(other, []).append(event_type)
    parts = [f"{', '.join(types)} (already claimed by {other})" for other, types in sorted(by_hub.items())]
    return f"{slug}'s manifest claims event types another hub owns: {'; '.join(parts)}"


@dataclass
class RegistryFolds:
    """The registry's handlers and the little state they need between events."""

    claimed: dict[str, str] = field(default_factory=dict)  # event type -> hub
    active: dict[str, tuple[str, int]] = field(default_factory=dict)  # hub -> (manifest id, revision)
    revisions: dict[str, int] = field(default_factory=dict)  # hub -> highest revision seen

    def load(self, claim_rows: list[dict[str, Any]], manifest_rows: list[dict[str, Any]]) -> None:
        self.claimed = {r["event_type"]: r["slug"] for r in claim_rows}
        for r in manifest_rows:
            self.revisions[r["slug"]] = max(self.revisions.get(r["slug"], 0), r["revision"] or 0)
            if r["status"] == "active":
                self.active[r["slug"]] = (r["manifest_id"], r["revision"] or 0)

    def on_registered(self, event: HubRegistered, at: Applied, changes: Changes) -> None:
        d = event.data
        about(event, d.slug)
        changes.upsert(
            t.hubs,
            {
                "slug": d.slug,
                "name": d.name,
                "domain": d.metadata.get("domain"),
                "hub_kind": d.hub_kind,
                "hub_family": d.hub_family,
                "vsm_function": d.vsm_function,
                "vsm_system": d.vsm_system,
                "description": d.description,
                "owner": d.owner,
                "registered_at": event.time,
                "registered_event_id": event.id,
            },
        )

    def on_manifest_activated(self, event: HubManifestActivated, at: Applied, changes: Changes) -> None:
        d = event.data
        about(event, d.slug)
        revision = d.revision or self.revisions.get(d.slug, 0) + 1
        self.revisions[d.slug] = max(self.revisions.get(d.slug, 0), revision)
        row = {
            "manifest_id": event.id,
            "slug": d.slug,
            "revision": revision,
            "content_hash": d.metadata.get("content_hash"),
            "horizon": (d.horizon or "tactical"),
            "event_types": d.event_types,
            "widget_types": d.widget_types,
            "annotation_categories": d.annotation_categories,
            "policy_scopes": d.policy_scopes,
            "activated_at": event.time,
            "actor": event.actor,
            "seq": at.sequence,
        }
        clashes = conflicts(self.claimed, d.slug, d.event_types)
        if clashes:
            changes.upsert(t.manifests, {**row, "status": "rejected", "reason": conflict_message(d.slug, clashes)})
            return
        previous = self.active.get(d.slug)
        if previous and previous[0] != event.id:
            changes.upsert(t.manifests, {"manifest_id": previous[0], "status": "superseded"})
        for event_type, owner in list(self.claimed.items()):
            if owner == d.slug and event_type not in d.event_types:
                del self.claimed[event_type]
                changes.upsert(t.claims, {"event_type": event_type, "slug": None, "manifest_id": None})
        for event_type in d.event_types:
            if event_type not in SHARED_TYPES:
                self.claimed[event_type] = d.slug
                changes.upsert(t.claims, {"event_type": event_type, "slug": d.slug, "manifest_id": event.id})
        self.active[d.slug] = (event.id, revision)
        changes.upsert(t.manifests, {**row, "status": "active", "reason": None})
        changes.upsert(t.hubs, {"slug": d.slug, "active_manifest_id": event.id, "active_revision": revision})

    def on_widget_created(self, event: WidgetCreated, at: Applied, changes: Changes) -> None:
        d = event.data
        changes.upsert(
            t.widgets,
            {
                "hub": about(event),
                "slug": d.slug,
                "widget_type": d.widget_type,
                "title": d.title,
                "entity": d.entity,
                "attributes": d.attributes,
                "event_id": event.id,
                "created_at": event.time,
            },
        )

    def handlers(self) -> Handlers:
        return {
            HubRegistered: self.on_registered,
            HubManifestActivated: self.on_manifest_activated,
            WidgetCreated: self.on_widget_created,
        }


def about(event: Event, slug: str | None = None) -> str:
    """The hub a registry event is about: its entity `hub/<slug>` in the registry's namespace.

    Raising quarantines the event with the reason: a manifest or registration for hub X counts only when
    stored as `constitutional.registry.{type}.hub:X` (only the admin may publish there, README Security),
    and only for the hub its data names.
    """
    named = (event.subject or "").removeprefix("hub/")
    if event.subject != registry_entity(named) or (slug is not None and slug != named):
        raise ValueError(
            f"{event.type} about hub {slug or named!r} must be stored as constitutional.{REGISTRY_HUB}."
            f"{event.type}.hub:{slug or named} (subject {registry_entity(slug or named)!r}); publish it "
            "with `vsmesh hub bootstrap`"
        )
    return named


def registry_projection(folds: RegistryFolds | None = None) -> Projection:
    """The registry reads its own namespace of the constitutional stream: registrations, manifests, widgets."""
    return Projection(
        hub=REGISTRY_HUB,
        streams={"CONSTITUTIONAL": f"constitutional.{REGISTRY_HUB}.>"},
        metadata=t.registry_metadata,
        handlers=(folds or RegistryFolds()).handlers(),
    )


# --- a manifest hub's generic projection


def _plain(value: Any) -> Any:
    return msgspec.to_builtins(value)


def on_declared(event: Event, at: Applied, changes: Changes) -> None:
    """Any manifest-declared event: one row in its widget's (entity's) timeline, data and metadata whole."""
    changes.upsert(
        t.timeline,
        {
            "event_id": event.id,
            "entity": event.subject,
            "type": event.type,
            "time": event.time,
            "actor": event.actor,
            "actor_kind": event.actorkind,
            "data": _plain(event.data),
            "metadata": metadata_of(event),
            "stream": at.stream,
            "seq": at.sequence,
        },
    )


@dataclass
class ManifestProjection(Projection):
    """A hub with no code: the core's handlers, widgets, vocabulary, and a timeline of its declared types.

    A type the hub's active manifest does not declare is refused, and so is an annotation in a category it does
    not declare: the engine quarantines the event.
    """

    vocabularies: Vocabularies = field(default_factory=lambda: VOCABULARIES)

    def handler_for(self, event_class: type[Event]) -> Handler | None:
        active = self.vocabularies.active.get(self.hub)
        if event_class is AnnotationAdded and active is not None:
            return annotation_handler(active.annotation_categories)
        found = self.handlers.get(event_class)
        if found is not None:
            return found
        event_type = event_type_of(event_class)
        if active is None:
            return None  # not bootstrapped yet: nothing to check against
        if event_type in active.event_types:
            return on_declared
        if event_type in SHARED_TYPES:
            return None  # the core's and the registry's own types belong to every hub
        return _refuse_undeclared


def _refuse_undeclared(event: Event, at: Applied, changes: Changes) -> None:
    # Raising sends the event to the quarantine with this reason; the batch goes on (engine.fold).
    raise ValueError(
        f"{event.type} is not declared by {event.hub}'s active manifest; declare it in the manifest and "
        "bootstrap it again, then `vsmesh quarantine replay`"
    )


def manifest_projection(slug: str) -> ManifestProjection:
    # Its widgets and vocabulary are the registry's (stored in the registry's namespace, read from its schema).
    handlers: Handlers = core_handlers()
    return ManifestProjection(hub=slug, streams=hub_streams(slug), metadata=t.generic_metadata, handlers=handlers)
