"""Folds of readiness gates and migration-wave verdicts: what must be true before a wave may proceed."""

from __future__ import annotations

from vsmesh.events.schemas.ops import OpsMigrationGateFailed, OpsMigrationGatePassed, OpsReadinessGateUpdated
from vsmesh.hubs.ops.recent import remember
from vsmesh.hubs.ops.tables import readiness_gates
from vsmesh.projectors.engine.changes import Changes
from vsmesh.projectors.engine.projection import Applied, Handlers


def on_gate_updated(event: OpsReadinessGateUpdated, at: Applied, changes: Changes) -> None:
    data = event.data
    remember(event, at, changes, f"gate {data.gate} {data.status}")
    row = {
        "gate": data.gate,
        "status": data.status,
        "evidence_event_ids": data.evidence_event_ids,
        "note": data.note,
        # A later readiness status supersedes an earlier wave verdict, and the other way round.
        "passing": data.status == "green",
        "updated_at": event.time,
        "updated_by": event.actor,
        "event_id": event.id,
        "updated_seq": at.sequence,
    }
    for column in ("owner_repo", "evidence_required"):
        if getattr(data, column) is not None:  # not repeated on every update: keep what was said
            row[column] = getattr(data, column)
    if data.migration_wave is not None:
        row["wave"] = data.migration_wave
    changes.upsert(readiness_gates, row)


Verdict = OpsMigrationGatePassed | OpsMigrationGateFailed


def _verdict(event: Verdict, at: Applied, changes: Changes, passed: bool, reason: str | None) -> None:
    data = event.data
    verdict = "passed" if passed else "failed"
    remember(event, at, changes, f"wave {data.wave}: gate {data.gate} {verdict}")
    row = {
        "gate": data.gate,
        "wave": data.wave,
        "verdict": verdict,
        "verdict_reason": reason,
        "passing": passed,
        "updated_at": event.time,
        "updated_by": event.actor,
        "event_id": event.id,
        "updated_seq": at.sequence,
    }
    if data.evidence_event_ids:
        row["evidence_event_ids"] = data.evidence_event_ids
    changes.upsert(readiness_gates, row)


def on_gate_passed(event: OpsMigrationGatePassed, at: Applied, changes: Changes) -> None:
    _verdict(event, at, changes, True, event.data.note)


def on_gate_failed(event: OpsMigrationGateFailed, at: Applied, changes: Changes) -> None:
    _verdict(event, at, changes, False, event.data.reason)


def handlers() -> Handlers:
    return {
        OpsReadinessGateUpdated: on_gate_updated,
        OpsMigrationGatePassed: on_gate_passed,
        OpsMigrationGateFailed: on_gate_failed,
    }
