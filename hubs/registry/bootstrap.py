"""Bootstrapping a hub from its manifest: register it, activate the manifest, seed its widgets — only what the
registry lacks. Governance: a signed-in person's `vsmesh hub bootstrap` has the gateway do it as that person
(gateway/governance.py); the demo and `vsmesh up` do it as the mesh. The publisher names who acts.
"""

from __future__ import annotations

from typing import Any

from nats.aio.client import Client

from vsmesh.bus.contract_client import ask
from vsmesh.bus.publisher import Publisher
from vsmesh.errors import ConfigError, ContractError
from vsmesh.events.envelope import Event
from vsmesh.events.governance import REGISTRY_HUB, registry_entity
from vsmesh.hubs.registry.manifest_model import Manifest, content_id
from vsmesh.hubs.registry.projector import conflict_message, conflicts


def plan(manifest: Manifest, hubs: list[dict[str, Any]], publisher: Publisher) -> list[Event]:
    """The events that bring the registry to this manifest; none when it is already there.

    Ids are content hashes, so a re-run (or a retry) never stores an event twice.
    ConfigError, naming both hubs, when another hub's active manifest claims one of its event types.
    """
    slug = manifest.slug
    claimed = {
        e: h["slug"]
        for h in hubs
        if h.get("active_manifest") and h["slug"] != slug
        for e in h["active_manifest"]["vocabulary"]["event_types"]
    }
    clashes = conflicts(claimed, slug, manifest.vocabulary.event_types)
    if clashes:
        raise ConfigError(f"refused: {conflict_message(slug, clashes)}")
    current = next((h for h in hubs if h["slug"] == slug), None) or {}
    events: list[Event] = []

    def add(event_type: str, data: dict[str, Any], *key: Any) -> None:
        # In the registry's namespace, about this hub: where only governance identities may publish.
        event_id = content_id(event_type, slug, *key)
        events.append(
            publisher.build(event_type, hub=REGISTRY_HUB, subject=registry_entity(slug), data=data, event_id=event_id)
        )

    registration = manifest.registration()
    if current.get("registered_event_id") != content_id("hub-registered", slug, registration):
        add("hub-registered", registration, registration)
    active = current.get("active_manifest") or {}
    if active.get("content_hash") != manifest.content_hash():
        revision = (current.get("revisions") or 0) + 1
        activation = {**manifest.activation(), "revision": revision}
        add("hub-manifest-activated", activation, manifest.content_hash(), revision)
    have = {w["slug"]: w["event_id"] for w in current.get("widget_list", [])}
    for w in manifest.widgets:
        data = w.model_dump(exclude_none=True)
        if have.get(w.slug) != content_id("widget-created", slug, data):
            add("widget-created", data, data)
    return events


async def ask_registry(nc: Client, operation: str, request: dict[str, Any] | None = None) -> Any:
    try:
        return await ask(nc, REGISTRY_HUB, operation, request)
    except ContractError as e:
        if e.code == "not_running":
            raise ContractError("not_running", "the registry does not answer: is `vsmesh up` running?") from None
        raise


async def bootstrap(nc: Client, publisher: Publisher, manifest: Manifest) -> dict[str, Any]:
    """Publish what the registry lacks of this manifest (as the publisher's actor); the registry's view after."""
    hubs = (await ask_registry(nc, "list_hubs"))["hubs"]
    current = next((h for h in hubs if h["slug"] == manifest.slug), None)
    if current is not None:
        detail = await ask_registry(nc, "get_hub", {"hub": manifest.slug})
        current["revisions"] = max((m["revision"] or 0 for m in detail["manifests"]), default=0)
        current["widget_list"] = detail["widgets"]
    events = plan(manifest, hubs, publisher)
    stored = [await publisher.publish(e) for e in events]
    if not stored:
        return {"hub": manifest.slug, "published": [], "note": "already up to date"}
    wait = {stored[-1].stream: max(s.sequence for s in stored)}
    answer = await ask_registry(nc, "get_hub", {"hub": manifest.slug, "wait_for_seq": wait})
    mine = [m for m in answer["manifests"] if m["content_hash"] == manifest.content_hash()]
    if mine and mine[-1]["status"] == "rejected":
        raise ConfigError(f"refused by the registry: {mine[-1]['reason']}")
    return {
        "hub": manifest.slug,
        "published": [{"type": e.type, "id": e.id, "seq": s.sequence} for e, s in zip(events, stored, strict=True)],
        "active_revision": (answer.get("active_manifest") or {}).get("revision"),
        "widgets": len(answer["widgets"]),
    }
