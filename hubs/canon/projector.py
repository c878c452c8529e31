"""canon-hub's handlers: pure folds of one event into the batch's changes."""

from __future__ import annotations

import datetime as dt

from vsmesh.events.schemas.canon import (
    CanonApprovalDecided,
    CanonApprovalExecuted,
    CanonApprovalRequested,
    CanonCallRefused,
    CanonEscalationOverdue,
    CanonEscalationRaised,
    CanonMandateGranted,
    CanonMandateRevoked,
    CanonPolicyDeclared,
)
from vsmesh.events.schemas.notification import NotificationSilenceExpired, NotificationSilenceSet
from vsmesh.hubs.canon import manifest
from vsmesh.hubs.canon.tables import (
    approvals,
    escalation_clocks,
    mandate_revocations,
    mandates,
    metadata,
    policies,
    policy_versions,
    refused_calls,
    silences,
)
from vsmesh.hubs.core import hub_projection
from vsmesh.hubs.core.projector import on_escalation_raised
from vsmesh.projectors.engine.changes import Changes
from vsmesh.projectors.engine.projection import Applied, Handlers, Projection


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
    delegated_from = d.delegated_from or d.metadata.get("delegated_from")  # metadata: the first grants' way
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


def on_escalation_raised_here(event: CanonEscalationRaised, at: Applied, changes: Changes) -> None:
    on_escalation_raised(event, at, changes)
    horizon = event.data.horizon
    changes.upsert(escalation_clocks, {"escalation_id": event.id, "horizon": str(horizon) if horizon else None})


def on_escalation_overdue(event: CanonEscalationOverdue, at: Applied, changes: Changes) -> None:
    d = event.data
    row = {
        "escalation_id": d.escalation_id,
        "re_escalations": d.re_escalation,
        "overdue_since": d.raised_at + dt.timedelta(seconds=d.sla_s),  # when the first SLA ran out
        "due_at": d.due_at,
        "sla_s": d.sla_s,
        "overdue_event_id": event.id,
    }
    changes.upsert(escalation_clocks, row)


def on_call_refused(event: CanonCallRefused, at: Applied, changes: Changes) -> None:
    d = event.data
    row = {"event_id": event.id, "actor": event.actor, "actor_kind": event.actorkind, "hub": d.hub}
    row |= {"operation": d.operation, "access": d.access, "missing_mandate": d.missing_mandate}
    changes.upsert(refused_calls, {**row, "reason": d.reason, "at": event.time})


def on_silence_set(event: NotificationSilenceSet, at: Applied, changes: Changes) -> None:
    d = event.data
    row = {"silence_id": event.id, "matchers": d.matchers, "starts_at": d.starts_at or event.time, "until": d.until}
    row |= {"reason": d.reason, "author": event.actor, "author_kind": event.actorkind, "set_at": event.time}
    changes.upsert(silences, row)


def on_silence_expired(event: NotificationSilenceExpired, at: Applied, changes: Changes) -> None:
    changes.upsert(silences, {"silence_id": event.data.silence_id, "expired_at": event.time})


def on_approval_requested(event: CanonApprovalRequested, at: Applied, changes: Changes) -> None:
    d = event.data
    row = {"approval_id": event.id, "holder": event.actor, "holder_kind": event.actorkind, "hub": d.hub}
    row |= {"operation": d.operation, "arguments": d.arguments, "arguments_hash": d.arguments_hash}
    row |= {"condition": d.condition, "mandate_id": d.mandate_id, "requested_at": event.time}
    changes.upsert(approvals, {**row, "expires_at": d.expires_at, "status": "pending"})


def on_approval_decided(event: CanonApprovalDecided, at: Applied, changes: Changes) -> None:
    if event.actorkind != "human":  # only a person decides (the gateway ignores any other decision too)
        return
    d = event.data
    row = {"approval_id": d.approval_id, "status": d.decision, "decided_by": event.actor, "decided_at": event.time}
    changes.upsert(approvals, {**row, "reason": d.reason})


def on_approval_executed(event: CanonApprovalExecuted, at: Applied, changes: Changes) -> None:
    d = event.data
    row = {"approval_id": d.approval_id, "status": d.outcome, "result_event_id": d.result_event_id}
    row |= {"result_stream": d.stream, "result_seq": d.seq}
    if d.error:
        row["reason"] = d.error
    changes.upsert(approvals, row)


HANDLERS: Handlers = {
    CanonApprovalRequested: on_approval_requested,
    CanonApprovalDecided: on_approval_decided,
    CanonApprovalExecuted: on_approval_executed,
    CanonEscalationRaised: on_escalation_raised_here,
    CanonEscalationOverdue: on_escalation_overdue,
    CanonCallRefused: on_call_refused,
    CanonPolicyDeclared: on_policy_declared,
    CanonMandateGranted: on_mandate_granted,
    CanonMandateRevoked: on_mandate_revoked,
    NotificationSilenceSet: on_silence_set,
    NotificationSilenceExpired: on_silence_expired,
}


def projection() -> Projection:
    # Escalations raised on canon and their resolutions are folded by the core handlers.
    return hub_projection(manifest.SLUG, metadata, HANDLERS, manifest.EVENT_TYPES, manifest.ANNOTATION_CATEGORIES)
