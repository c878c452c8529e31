"""Folds of the inventory events: what exists, how it relates, and when it stopped existing."""

from __future__ import annotations

from typing import Any

from vsmesh.events.schemas.ops import (
    OpsInventoryRegistered,
    OpsInventoryRetired,
    OpsInventorySeen,
    OpsInventoryUpdated,
    OpsServiceDiscovered,
)
from vsmesh.hubs.ops.recent import remember
from vsmesh.hubs.ops.tables import inventory, inventory_attributes
from vsmesh.projectors.engine.changes import Changes
from vsmesh.projectors.engine.projection import Applied, Handlers


def entity_of(subject: str | None, kind: str, name: str) -> str:
    """The entity an event is about: its subject, or `kind/name` when it names none."""
    return subject or f"{kind}/{name}"


def name_of(entity: str) -> str:
    """The name part of an entity subject (`service/gitea` → `gitea`)."""
    return entity.split("/", 1)[-1]


def set_attributes(entity: str, attributes: dict[str, Any], at: Applied, changes: Changes) -> None:
    """Upsert each attribute as its own row: later values win key by key."""
    for key, value in attributes.items():
        changes.upsert(
            inventory_attributes,
            {"entity": entity, "key": key, "value": value, "removed": False, "updated_seq": at.sequence},
        )


def _given(**values: Any) -> dict[str, Any]:
    # An update names only what changed: a missing field must not blank the stored one.
    return {k: v for k, v in values.items() if v is not None}


def on_registered(event: OpsInventoryRegistered, at: Applied, changes: Changes) -> None:
    data = event.data
    entity = entity_of(event.subject, data.kind, data.name)
    remember(event, at, changes, f"{data.kind} {data.name} registered")
    changes.upsert(
        inventory,
        {
            "entity": entity,
            "kind": data.kind,
            "kind_detail": data.kind_detail,
            "name": data.name,
            "environment": data.environment,
            "owner": data.owner,
            "registered_at": event.time,
            "registered_event_id": event.id,
            "retired_at": None,
            "retired_reason": None,
            "replaced_by": None,
            "updated_seq": at.sequence,
        },
    )
    set_attributes(entity, data.attributes, at, changes)


def on_updated(event: OpsInventoryUpdated, at: Applied, changes: Changes) -> None:
    data = event.data
    if not event.subject:
        remember(event, at, changes, "inventory update without a subject: ignored")
        return
    remember(event, at, changes, f"{event.subject} updated")
    row = _given(name=data.name, environment=data.environment, owner=data.owner)
    changes.upsert(inventory, {"entity": event.subject, **row, "updated_seq": at.sequence})
    set_attributes(event.subject, data.attributes, at, changes)
    for key in data.removed_attributes:
        changes.upsert(
            inventory_attributes,
            {"entity": event.subject, "key": key, "value": None, "removed": True, "updated_seq": at.sequence},
        )


def on_retired(event: OpsInventoryRetired, at: Applied, changes: Changes) -> None:
    if not event.subject:
        remember(event, at, changes, "inventory retirement without a subject: ignored")
        return
    remember(event, at, changes, f"{event.subject} retired" + (f": {event.data.reason}" if event.data.reason else ""))
    changes.upsert(
        inventory,
        {
            "entity": event.subject,
            "retired_at": event.time,
            "retired_reason": event.data.reason,
            "replaced_by": event.data.replaced_by,
            "updated_seq": at.sequence,
        },
    )


def on_service_discovered(event: OpsServiceDiscovered, at: Applied, changes: Changes) -> None:
    data = event.data
    entity = entity_of(event.subject, "service", data.name)
    remember(event, at, changes, f"service {data.name} discovered" + (f" by {data.method}" if data.method else ""))
    row = _given(environment=data.environment)
    changes.upsert(
        inventory,
        {
            "entity": entity,
            "kind": "service",
            "name": data.name,
            **row,
            "discovered_via": data.method or "discovery",
            "discovered_at": event.time,
            "updated_seq": at.sequence,
        },
    )
    found = _given(host=data.host, namespace=data.namespace, discovered_endpoints=data.endpoints or None)
    set_attributes(entity, {**data.attributes, **found}, at, changes)


def on_seen(event: OpsInventorySeen, at: Applied, changes: Changes) -> None:
    # A source names only entities the inventory holds (declared, or discovered by an earlier event of its own).
    for entity in event.data.entities:
        changes.upsert(inventory, {"entity": entity, "last_seen": event.time, "updated_seq": at.sequence})


def handlers() -> Handlers:
    return {
        OpsInventoryRegistered: on_registered,
        OpsInventoryUpdated: on_updated,
        OpsInventoryRetired: on_retired,
        OpsServiceDiscovered: on_service_discovered,
    }


def sighting_handlers() -> Handlers:
    """Not keyed by the event's subject: one sighting names many entities (so it stays out of partitions by
    entity and of entity-scoped reverts)."""
    return {OpsInventorySeen: on_seen}
