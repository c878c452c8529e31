"""The core handlers: pure folds of one core event into the batch's changes, no I/O.

Things are keyed by the id of the event that opened them (a replay of it is the same row); follow-ups
name that id, update the row's status and leave one `status_history` row with their metadata.
"""

from __future__ import annotations

from typing import Any

from vsmesh.events.envelope import Event
from vsmesh.events.schemas.alert import AlertAcknowledged, AlertRaised, AlertResolved
from vsmesh.events.schemas.canon import CanonEscalationRaised, CanonEscalationResolved
from vsmesh.events.schemas.core import (
    AnnotationAdded,
    CapabilityRegistered,
    CapabilityRequested,
    CapabilityRequestUpdated,
    MessageRead,
    MessageSent,
)
from vsmesh.events.schemas.risk import RiskAccepted, RiskEscalated, RiskMitigated, RiskSurfaced
from vsmesh.hubs.core.tables import (
    alerts,
    annotations,
    capabilities,
    capability_requests,
    escalations,
    messages,
    risks,
    status_history,
)
from vsmesh.projectors.engine.changes import Changes
from vsmesh.projectors.engine.projection import Applied, Handlers


def _opened(prefix: str, event: Event) -> dict[str, Any]:
    """Who opened the thing, when, and the opening event's metadata."""
    return {
        f"{prefix}_at": event.time,
        f"{prefix}_by": event.actor,
        f"{prefix}_by_kind": event.actorkind,
        "metadata": event.data.metadata,
    }


def _changed(event: Event, at: Applied) -> dict[str, Any]:
    """The columns every follow-up sets on the row it changes."""
    return {"updated_at": event.time, "updated_by": event.actor, "last_event_id": event.id, "updated_seq": at.sequence}


def _history(event: Event, at: Applied, changes: Changes, target_id: str, status: str, note: str | None) -> None:
    changes.upsert(
        status_history,
        {
            "event_id": event.id,
            "target_id": target_id,
            "type": event.type,
            "status": status,
            "note": note,
            "at": event.time,
            "actor": event.actor,
            "actor_kind": event.actorkind,
            "metadata": event.data.metadata,
            "stream": at.stream,
            "seq": at.sequence,
        },
    )


def on_capability_registered(event: CapabilityRegistered, at: Applied, changes: Changes) -> None:
    data = event.data
    changes.upsert(
        capabilities,
        {
            "capability": data.capability,
            "description": data.description,
            "tags": data.tags,
            "parameters_schema": data.parameters_schema,
            "event_id": event.id,
            **_opened("registered", event),
        },
    )


def on_capability_requested(event: CapabilityRequested, at: Applied, changes: Changes) -> None:
    data = event.data
    row = {
        "request_id": event.id,
        "capability": data.capability,
        "provider": data.provider or event.hub,
        "summary": data.summary,
        "parameters": data.parameters,
        "due_by": data.due_by,
        "status": "requested",
        **_opened("requested", event),
    }
    changes.upsert(capability_requests, row)
    _history(event, at, changes, event.id, "requested", data.summary)


def on_capability_request_updated(event: CapabilityRequestUpdated, at: Applied, changes: Changes) -> None:
    data = event.data
    row = {"request_id": data.request_id, "status": data.status, "note": data.note, **_changed(event, at)}
    changes.upsert(capability_requests, row)
    _history(event, at, changes, data.request_id, data.status, data.note)


def _thread(event: MessageSent) -> str:
    # A reply published through the contract carries its thread as correlation id; a bare reply
    # (correlation id = its own id) joins its parent's thread at least.
    if event.data.reply_to is None:
        return event.id
    if event.correlationid and event.correlationid != event.id:
        return event.correlationid
    return event.data.reply_to


def on_message_sent(event: MessageSent, at: Applied, changes: Changes) -> None:
    data = event.data
    row = {
        "message_id": event.id,
        "recipient": data.to,
        "title": data.title,
        "body": data.body,
        "priority": data.priority,
        "reply_to": data.reply_to,
        "thread_id": _thread(event),
        "entity": event.subject,
        **_opened("sent", event),
    }
    changes.upsert(messages, row)


def on_message_read(event: MessageRead, at: Applied, changes: Changes) -> None:
    message_id = event.data.message_id
    changes.upsert(messages, {"message_id": message_id, "read_at": event.time, "read_by": event.actor})
    _history(event, at, changes, message_id, "read", None)


def on_annotation_added(event: AnnotationAdded, at: Applied, changes: Changes) -> None:
    data = event.data
    row = {
        "annotation_id": event.id,
        "entity": event.subject,
        "category": data.category,
        "body": data.body,
        "target_event_id": data.target_event_id,
        **_opened("added", event),
    }
    changes.upsert(annotations, row)


def on_risk_surfaced(event: RiskSurfaced, at: Applied, changes: Changes) -> None:
    data = event.data
    row = {
        "risk_id": event.id,
        "entity": event.subject,
        "title": data.title,
        "severity": data.severity,
        "likelihood": data.likelihood,
        "category": data.category,
        "description": data.description,
        "owner": data.owner,
        "status": "surfaced",
        **_opened("surfaced", event),
    }
    changes.upsert(risks, row)


def _risk_change(event: Event, at: Applied, changes: Changes, status: str, note: str | None, **cols: Any) -> None:
    risk_id = event.data.risk_id
    changes.upsert(risks, {"risk_id": risk_id, "status": status, **cols, **_changed(event, at)})
    _history(event, at, changes, risk_id, status, note)


def on_risk_mitigated(event: RiskMitigated, at: Applied, changes: Changes) -> None:
    data = event.data
    cols: dict[str, Any] = {"mitigation": data.mitigation}
    if data.residual_severity is not None:
        cols["residual_severity"] = data.residual_severity
    _risk_change(event, at, changes, "mitigated", data.mitigation, **cols)


def on_risk_escalated(event: RiskEscalated, at: Applied, changes: Changes) -> None:
    data = event.data
    cols = {"escalated_to": data.escalated_to, "escalation_reason": data.reason}
    _risk_change(event, at, changes, "escalated", data.reason, **cols)


def on_risk_accepted(event: RiskAccepted, at: Applied, changes: Changes) -> None:
    data = event.data
    cols = {"acceptance_rationale": data.rationale, "review_by": data.review_by}
    _risk_change(event, at, changes, "accepted", data.rationale, **cols)


def on_alert_raised(event: AlertRaised, at: Applied, changes: Changes) -> None:
    data = event.data
    row = {
        "alert_id": event.id,
        "entity": event.subject,
        "title": data.title,
        "severity": data.severity,
        "description": data.description,
        "status": "raised",
        **_opened("raised", event),
    }
    changes.upsert(alerts, row)


def on_alert_acknowledged(event: AlertAcknowledged, at: Applied, changes: Changes) -> None:
    data = event.data
    row = {
        "alert_id": data.alert_id,
        "status": "acknowledged",
        "acknowledged_at": event.time,
        "acknowledged_by": event.actor,
        "acknowledgement_note": data.note,
        **_changed(event, at),
    }
    changes.upsert(alerts, row)
    _history(event, at, changes, data.alert_id, "acknowledged", data.note)


def on_alert_resolved(event: AlertResolved, at: Applied, changes: Changes) -> None:
    data = event.data
    row = {
        "alert_id": data.alert_id,
        "status": "resolved",
        "resolved_at": event.time,
        "resolved_by": event.actor,
        "resolution": data.resolution,
        **_changed(event, at),
    }
    changes.upsert(alerts, row)
    _history(event, at, changes, data.alert_id, "resolved", data.resolution)


def on_escalation_raised(event: CanonEscalationRaised, at: Applied, changes: Changes) -> None:
    data = event.data
    row = {
        "escalation_id": event.id,
        "entity": event.subject,
        "title": data.title,
        "severity": data.severity,
        "from_hub": data.from_hub,
        "reason": data.reason,
        "cause_event_id": data.cause_event_id,
        "status": "raised",
        **_opened("raised", event),
    }
    changes.upsert(escalations, row)


def on_escalation_resolved(event: CanonEscalationResolved, at: Applied, changes: Changes) -> None:
    data = event.data
    row = {
        "escalation_id": data.escalation_id,
        "status": "resolved",
        "decision": data.decision,
        "rationale": data.rationale,
        **_changed(event, at),
    }
    changes.upsert(escalations, row)
    _history(event, at, changes, data.escalation_id, "resolved", data.decision)


def core_handlers() -> Handlers:
    """Handlers for the core event types, by type."""
    return {
        CapabilityRegistered: on_capability_registered,
        CapabilityRequested: on_capability_requested,
        CapabilityRequestUpdated: on_capability_request_updated,
        MessageSent: on_message_sent,
        MessageRead: on_message_read,
        AnnotationAdded: on_annotation_added,
        RiskSurfaced: on_risk_surfaced,
        RiskMitigated: on_risk_mitigated,
        RiskEscalated: on_risk_escalated,
        RiskAccepted: on_risk_accepted,
        AlertRaised: on_alert_raised,
        AlertAcknowledged: on_alert_acknowledged,
        AlertResolved: on_alert_resolved,
        CanonEscalationRaised: on_escalation_raised,
        CanonEscalationResolved: on_escalation_resolved,
    }
