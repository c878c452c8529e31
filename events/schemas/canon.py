"""canon-*: policies, mandates and escalations to System 5; constitutional, kept forever."""

from __future__ import annotations

import datetime as dt
from typing import ClassVar

from vsmesh.events.envelope import Event, EventData, Horizon
from vsmesh.events.schemas.common import EventId, Severity
from vsmesh.events.schemas.notification import notify_values


class PolicyDeclaredData(EventData, frozen=True):
    policy: str  # a stable slug, e.g. credential-management
    title: str
    scope: str | None = None  # a policy scope, e.g. ops-production
    statement: str | None = None
    document: str | None = None  # where the full text lives
    version: str | None = None
    supersedes: str | None = None

    def __post_init__(self) -> None:
        # Routes and receivers are read by the notifier long after publishing: a malformed one is refused
        # now, naming the field, and the routes in force stay as they are.
        notify_values(self.metadata.get("values"))


class CanonPolicyDeclared(Event, frozen=True, tag="canon-policy-declared"):
    """A policy is in force from now on."""

    data: PolicyDeclaredData
    horizon: ClassVar[Horizon] = Horizon.CONSTITUTIONAL


class MandateGrantedData(EventData, frozen=True):
    role: str  # e.g. Technical Operator
    holder: str  # a person, agent or service
    scope: str | None = None
    constraints: list[str] = []
    granted_until: dt.datetime | None = None


class CanonMandateGranted(Event, frozen=True, tag="canon-mandate-granted"):
    """Someone may now act in a role, within a scope."""

    data: MandateGrantedData
    horizon: ClassVar[Horizon] = Horizon.CONSTITUTIONAL


class EscalationRaisedData(EventData, frozen=True):
    title: str
    severity: Severity = "high"
    from_hub: str | None = None
    reason: str | None = None
    cause_event_id: EventId | None = None  # e.g. the runway projection below threshold
    # Whose clock it runs on: canon's escalation SLA for this horizon applies (unset: the from_hub's horizon).
    horizon: Horizon | None = None


class CanonEscalationRaised(Event, frozen=True, tag="canon-escalation-raised"):
    """An issue reached the top of the mesh for a decision."""

    data: EscalationRaisedData
    horizon: ClassVar[Horizon] = Horizon.CONSTITUTIONAL


class EscalationResolvedData(EventData, frozen=True):
    escalation_id: EventId
    decision: str
    rationale: str | None = None


class CanonEscalationResolved(Event, frozen=True, tag="canon-escalation-resolved"):
    """An escalation was decided."""

    data: EscalationResolvedData
    horizon: ClassVar[Horizon] = Horizon.CONSTITUTIONAL


class EscalationOverdueData(EventData, frozen=True):
    """An escalation left unanswered past canon's SLA for its horizon: re-escalated, once per SLA elapsed."""

    escalation_id: EventId
    horizon: Horizon
    sla_s: float  # the SLA in force when it was judged (seconds), from canon's policy values
    raised_at: dt.datetime
    due_at: dt.datetime  # raised_at + re_escalation × SLA: when this re-escalation fell due
    re_escalation: int = 1  # 1 the first time the SLA passed, 2 after twice the SLA, …
    policy: str | None = None  # the canon policy whose value set the SLA


class CanonEscalationOverdue(Event, frozen=True, tag="canon-escalation-overdue"):
    """An escalation went unanswered past its SLA and is raised again."""

    data: EscalationOverdueData
    horizon: ClassVar[Horizon] = Horizon.CONSTITUTIONAL


class MandateRevokedData(EventData, frozen=True):
    mandate_id: EventId  # the id of the `canon-mandate-granted` event
    reason: str | None = None


class CanonMandateRevoked(Event, frozen=True, tag="canon-mandate-revoked"):
    """A mandate no longer holds: from now on its holder may not act under it."""

    data: MandateRevokedData
    horizon: ClassVar[Horizon] = Horizon.CONSTITUTIONAL


class CallRefusedData(EventData, frozen=True):
    """A call the gateway refused; the event's actor is who tried, so an audit shows attempts beside actions."""

    hub: str  # the hub whose contract was called
    operation: str
    reason: str
    access: str = "read"  # read or write
    missing_mandate: str | None = None  # the scope a mandate would need, e.g. ops-hub:open_incident


class CanonCallRefused(Event, frozen=True, tag="canon-call-refused"):
    """An actor asked for something its mandates do not allow, and was refused."""

    data: CallRefusedData
    horizon: ClassVar[Horizon] = Horizon.CONSTITUTIONAL
