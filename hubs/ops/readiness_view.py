"""A migration wave's readiness: its gates, their status and evidence, and whether the wave may proceed."""

from __future__ import annotations

from typing import Any

from vsmesh.hubs.ops.queries import Row, Snapshot


def wave_item(snap: Snapshot, wave: str) -> Row | None:
    """The registered migration wave named `wave` (by name or by entity)."""
    for row in snap.of_kind("migration-wave"):
        if wave in (row["name"], row["entity"]):
            return row
    return None


def _registered_gates(snap: Snapshot, wave: str) -> dict[str, Row]:
    return {row["name"]: row for row in snap.related("readiness-gate", "wave", wave) if row["retired_at"] is None}


def describe_gate(gate: str, row: Row | None, item: Row | None, proofs: dict[str, Row]) -> dict[str, Any]:
    """One gate: its status, verdict, owner repo, what evidence it needs and what evidence it has."""
    row = row or {}
    attrs = (item or {}).get("attributes", {})
    ids = row.get("evidence_event_ids") or []
    return {
        "gate": gate,
        "title": attrs.get("title"),
        "status": row.get("status"),
        "verdict": row.get("verdict"),
        "passing": bool(row.get("passing")),
        "owner_repo": row.get("owner_repo") or attrs.get("owner_repo"),
        "evidence_required": row.get("evidence_required") or attrs.get("evidence_required"),
        "evidence": [_proof(i, proofs.get(i)) for i in ids],
        "note": row.get("verdict_reason") or row.get("note"),
        "updated_at": row.get("updated_at"),
        "updated_by": row.get("updated_by"),
    }


def _proof(event_id: str, found: Row | None) -> dict[str, Any]:
    if found is None:
        return {"event_id": event_id, "current": False}
    keep = ("entity", "kind", "status", "at", "summary")
    return {"event_id": event_id, "current": True, **{k: found[k] for k in keep}}


def evidence_ids(gates: list[Row]) -> list[str]:
    return sorted({i for g in gates for i in (g.get("evidence_event_ids") or [])})


def describe_wave(snap: Snapshot, wave: str, gates: list[Row], proofs: dict[str, Row]) -> dict[str, Any] | None:
    """The wave's readiness; None when nothing is known of it. It may proceed only when every gate passes."""
    item = wave_item(snap, wave)
    name = item["name"] if item else wave
    tracked = {g["gate"]: g for g in gates if g.get("wave") == name}
    registered = _registered_gates(snap, name)
    if item is None and not tracked and not registered:
        return None
    described = [
        describe_gate(g, tracked.get(g), registered.get(g) or snap.items.get(f"readiness-gate/{g}"), proofs)
        for g in sorted(tracked.keys() | registered.keys())
    ]
    blockers = [g["gate"] for g in described if not g["passing"]]
    attrs = item["attributes"] if item else {}
    return {
        "wave": name,
        "title": attrs.get("title"),
        "from_environment": attrs.get("from_environment"),
        "to_environment": attrs.get("to_environment"),
        "owner": item["owner"] if item else None,
        "gates": described,
        "passing": len(described) - len(blockers),
        "total": len(described),
        "blockers": blockers,
        # A wave with no gates proves nothing: it may not proceed.
        "may_proceed": bool(described) and not blockers,
    }


def wave_names(snap: Snapshot, gates: list[Row]) -> list[str]:
    """Every wave known by registration or by a gate naming it."""
    return sorted({row["name"] for row in snap.of_kind("migration-wave")} | {g["wave"] for g in gates if g["wave"]})
