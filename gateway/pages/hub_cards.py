"""The /hubs page's hubs: every coded hub and the registry beside the hubs the registry lists, each as words.

The registry lists the hubs registered with a manifest (a coded hub may have one too: ops-hub's ships in
manifests/); a coded hub is known by its code (its manifest module: name, VSM function and system, event
types) and is listed whether or not it was registered. A manifest is shown as terms, never as a dict.
"""

from __future__ import annotations

from typing import Any

from vsmesh.events.governance import REGISTRY_HUB
from vsmesh.hubs import HUBS

VOCABULARY = (  # the manifest's vocabulary keys, as a person reads them
    ("event_types", "event types"),
    ("widget_types", "widget types"),
    ("annotation_categories", "annotation categories"),
    ("policy_scopes", "policy scopes"),
)


def hub_cards(registered: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One card per hub by slug: the registry first, then every coded or registered hub."""
    rows = {row["slug"]: row for row in registered}
    cards = [_registry_card()]
    for slug in sorted(rows.keys() | HUBS.keys()):
        cards.append(_card(slug, rows.get(slug)))
    return cards


def _registry_card() -> dict[str, Any]:
    return {
        "slug": REGISTRY_HUB,
        "name": "The hub registry",
        "made": "coded (vsmesh.hubs.registry)",
        "facts": [("what it does", "registers hubs from their manifests, keeps their versions and widgets")],
        "terms": [],
    }


def _card(slug: str, row: dict[str, Any] | None) -> dict[str, Any]:
    row = row or {}
    code = HUBS[slug].manifest_module if slug in HUBS else None
    manifest = row.get("active_manifest") or {}
    made = "coded" if code else "from a manifest"
    if code and manifest:
        made = "coded, and registered with a manifest"
    facts = [
        ("function", row.get("vsm_function") or (code.VSM_FUNCTION if code else None)),
        ("system", row.get("vsm_system") or (code.VSM_SYSTEM if code else None)),
        ("horizon", manifest.get("horizon")),
        ("domain", row.get("domain")),
        ("kind", " / ".join(x for x in (row.get("hub_kind"), row.get("hub_family")) if x) or None),
        ("owner", row.get("owner")),
        ("manifest", _revision(manifest)),
        ("activated", manifest.get("activated_at")),
        ("widgets", row.get("widgets") if row else None),
        ("description", row.get("description")),
    ]
    vocabulary = manifest.get("vocabulary") or {}
    if code and not vocabulary.get("event_types"):
        vocabulary = {**vocabulary, "event_types": list(code.EVENT_TYPES)}
    terms = [(label, sorted(vocabulary[key])) for key, label in VOCABULARY if vocabulary.get(key)]
    return {
        "slug": slug,
        "name": row.get("name") or (code.NAME if code else slug),
        "made": made,
        "facts": [(label, value) for label, value in facts if value not in (None, "")],
        "terms": terms,
    }


def _revision(manifest: dict[str, Any]) -> str | None:
    if not manifest:
        return None
    status = manifest.get("status")
    return f"revision {manifest.get('revision')}" + (f", {status}" if status else "")
