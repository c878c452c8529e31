"""canon-hub's handlers: pure folds of one event into the batch's changes."""

from __future__ import annotations

from vsmesh.events.schemas.canon import (
    CanonCallRefused,
    CanonMandateGranted,
    CanonMandateRevoked,
    CanonPolicyDeclared,
)
from vsmesh.hubs.canon import manifest
from vsmesh.hubs.canon.tables import (
    mandate_revocations,
    mandates,
    metadata,
    policies,
    policy_versions,
    refused_calls,
)
from vsmesh.hubs.core import hub_projection
from vsmesh.projectors.changes import Changes
from vsmesh.projectors.projection import Applied, Handlers, Projection


def on_policy_declared(event: CanonPolicyDeclared, at: Applied, changes: Changes) -> None:
    d = event.data
    # The schema has no field for machine-readable values yet, so they travel in metadata.values.
    values = d.metadata.get("values")
    row = {
        "policy": d.policy,
        "version": d.version,
        "title": d.title,
        "scope": d.scope,
        "statement": d.statement,
        "document": d.document,
        "supersedes": d.supersedes,
        "values": values if isinstance(values, dict) else None,
        "event_id": event.id,
        "declared_at": event.time,
        "actor": event.actor,
    }
    changes.upsert(policy_versions, {**row, "version_key": d.version or event.id})
    changes.upsert(policies, row)


def on_mandate_granted(event: CanonMandateGranted, at: Applied, changes: Changes) -> None:
    d = event.data
    delegated_from = d.metadata.get("delegated_from")
    changes.upsert(
        mandates,
        {
            "mandate_id": event.id,
            "role": d.role,
            "holder": d.holder,
            "scope": d.scope,
            "constraints": d.constraints,
            "granted_until": d.granted_until,
            "granted_at": event.time,
            "granted_by": event.actor,
            "delegated_from": str(delegated_from) if delegated_from else None,
        },
    )


def on_mandate_revoked(event: CanonMandateRevoked, at: Applied, changes: Changes) -> None:
    row = {"mandate_id": event.data.mandate_id, "revoked_at": event.time, "revoked_by": event.actor}
    changes.upsert(mandate_revocations, {**row, "reason": event.data.reason, "event_id": event.id})


def on_call_refused(event: CanonCallRefused, at: Applied, changes: Changes) -> None:
    d = event.data
    row = {"event_id": event.id, "actor": event.actor, "actor_kind": event.actorkind, "hub": d.hub}
    row |= {"operation": d.operation, "access": d.access, "missing_mandate": d.missing_mandate}
    changes.upsert(refused_calls, {**row, "reason": d.reason, "at": event.time})


HANDLERS: Handlers = {
    CanonCallRefused: on_call_refused,
    CanonPolicyDeclared: on_policy_declared,
    CanonMandateGranted: on_mandate_granted,
    CanonMandateRevoked: on_mandate_revoked,
}


def projection() -> Projection:
    # Escalations raised on canon and their resolutions are folded by the core handlers.
    return hub_projection(manifest.SLUG, metadata, HANDLERS, manifest.EVENT_TYPES)
