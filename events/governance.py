"""Governance events: those that change what the mesh believes of a hub, its rules, or its history.

Only governance identities publish them (the admin: `vsmesh hub bootstrap`, `vsmesh revert`, `vsmesh
publish`), never a hub's service user: NATS refuses them to every hub user on every subject
(bus/creds.py), and the folds check where they were stored (hubs/registry/projector.py). README,
Security, lists this table for people.
"""

from __future__ import annotations

REGISTRY_HUB = "registry"  # the registry's namespace: `constitutional.registry.{type}.hub:{slug}`

# Registry events about hub X are stored only as `constitutional.registry.{type}.hub:X`.
REGISTRY_TYPES = frozenset({"hub-registered", "hub-manifest-activated", "widget-created"})
REVERT_TYPE = "event-reverted"
CANON_TYPES = frozenset({"canon-policy-declared", "canon-mandate-granted"})

# type -> who may publish it, and where
PUBLISHERS: dict[str, str] = {
    "hub-registered": f"admin (`vsmesh hub bootstrap`), on `constitutional.{REGISTRY_HUB}.hub-registered.hub:<slug>`",
    "hub-manifest-activated": (
        f"admin (`vsmesh hub bootstrap`), on `constitutional.{REGISTRY_HUB}.hub-manifest-activated.hub:<slug>`"
    ),
    "widget-created": f"admin (`vsmesh hub bootstrap`), on `constitutional.{REGISTRY_HUB}.widget-created.hub:<slug>`",
    REVERT_TYPE: (
        "admin (a signed-in person's `vsmesh revert`, through the gateway), on"
        " `constitutional.<reverted event's hub>.event-reverted.<entity>`"
    ),
    "canon-policy-declared": (
        "admin (a signed-in person's `vsmesh publish` through the gateway, the demo), on `constitutional.canon-hub.…`"
    ),
    "canon-mandate-granted": (
        "admin (a signed-in person's `vsmesh publish` through the gateway, the demo), on `constitutional.canon-hub.…`"
    ),
    "chain-checkpointed": (
        f"admin (`vsmesh verify --sign`), on `constitutional.{REGISTRY_HUB}.chain-checkpointed.chain:<stream>`"
    ),
}
ADMIN_ONLY_TYPES = frozenset(PUBLISHERS)
# What changes how the mesh sees one hub (registration, manifest, widgets) or undoes its history: never
# published through a hub's own contract, and every hub accepts them about itself.
GOVERNANCE_TYPES = REGISTRY_TYPES | {REVERT_TYPE}


def registry_entity(slug: str) -> str:
    """The CloudEvents subject of every registry event about hub `slug`."""
    return f"hub/{slug}"


__all__ = [
    "ADMIN_ONLY_TYPES",
    "CANON_TYPES",
    "GOVERNANCE_TYPES",
    "PUBLISHERS",
    "REGISTRY_HUB",
    "REGISTRY_TYPES",
    "REVERT_TYPE",
]
