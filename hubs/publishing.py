"""What a publish checks before anything is stored: the hub's vocabulary (its active manifest's event types, or a
coded hub's own). Used by `vsmesh publish` on the mesh's own connection and by the gateway's people's writes
(gateway/people.py) alike."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from vsmesh.errors import ContractError, InvalidEvent, UnknownEventType


async def check_vocabulary(nc, hub: str, event_type: str, payloads: Sequence[Any] = ()) -> None:
    """Refuse a type the hub does not declare: its active manifest's, or a coded hub's own event types
    while it has none (and an annotation, of `payloads`, in a category it does not declare); learn a manifest's
    declared schema-less types.

    A hub that is neither coded nor known to the registry (or a mesh whose registry is not running) is not
    checked here; its projector quarantines what its manifest does not declare.
    """
    from vsmesh.bus.contract_client import ask
    from vsmesh.hubs import is_coded

    active = None
    try:
        active = (await ask(nc, "registry", "get_hub", {"hub": hub}, timeout=5.0)).get("active_manifest")
    except ContractError as e:
        if e.code not in ("not_found", "not_running", "timeout", "forbidden"):
            raise
    if not active and not is_coded(hub):
        return
    # Only here: the vocabulary brings the hub core and SQLAlchemy (about half a second).
    from vsmesh.events.envelope import Horizon
    from vsmesh.hubs import declared_types
    from vsmesh.hubs import hub as coded_hub
    from vsmesh.hubs.vocabulary import VOCABULARIES, ActiveManifest

    if active:
        vocabulary = active["vocabulary"]
        VOCABULARIES.learn(
            ActiveManifest(
                hub,
                active["revision"],
                frozenset(vocabulary["event_types"]),
                Horizon(active["horizon"]),
                frozenset(vocabulary.get("annotation_categories") or []),
            )
        )
    else:
        VOCABULARIES.declare_coded(hub, declared_types(hub), coded_hub(hub).annotation_categories)
    from vsmesh.events.registry import REGISTRY

    if event_type not in REGISTRY:  # no schema and no manifest declares it: say that, not "not accepted"
        raise UnknownEventType(f"unknown event type {event_type!r}; see `vsmesh schema list` for the known types")
    for payload in payloads or [None]:
        refusal = VOCABULARIES.refusal(hub, event_type, payload)
        if refusal:
            raise InvalidEvent(f"refused: {refusal}")
