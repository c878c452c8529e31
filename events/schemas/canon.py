"""canon-*: policies, mandates and escalations to System 5; constitutional, kept forever."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Annotated, Any, ClassVar, Literal

import msgspec

from vsmesh.events.envelope import Event, EventData, Horizon
from vsmesh.events.schemas.common import EventId, Severity
from vsmesh.events.schemas.mandate_terms import parse_conditions
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


SpendPeriod = Literal["minute", "hour", "day", "week", "month"]


class SpendCap(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """At most `amount` of `currency` spent per calendar `per` (UTC) through calls under the mandate."""

    amount: Decimal
    currency: Annotated[str, msgspec.Meta(pattern="^[A-Z]{3}$")]
    per: SpendPeriod = "month"

    def __post_init__(self) -> None:
        if self.amount < 0:
            raise ValueError(f"a spend cap is at least 0, not {self.amount}")


class MandateCaps(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Hard stops the gateway enforces on calls under a mandate (and under every mandate delegated from it)."""

    calls_per_minute: Annotated[int, msgspec.Meta(ge=1)] | None = None
    spend: SpendCap | None = None


class MandateGrantedData(EventData, frozen=True):
    role: str  # e.g. Technical Operator
    holder: str  # a person, agent or service
    scope: str | None = None
    constraints: list[str] = []
    granted_until: dt.datetime | None = None
    # Calls that wait for a person's approval before they run (events/schemas/mandate_terms.py).
    approve: list[str] = []
    caps: MandateCaps | None = None
    # The mandate this one was delegated from: it grants at most what that one grants at each call.
    delegated_from: EventId | None = None

    def __post_init__(self) -> None:
        parse_conditions(self.approve)  # a condition nobody can read is refused when granted, not at a call


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


class ApprovalRequestedData(EventData, frozen=True):
    """A call held by an approve condition of the caller's mandate until a person decides; the event's id is
    the approval's id, its actor the caller."""

    hub: str
    operation: str
    arguments: dict[str, Any]  # exactly what will run once approved
    arguments_hash: str  # SHA-256 of the arguments as canonical JSON (mandate_terms.arguments_hash)
    condition: str  # the approve condition that held
    mandate_id: EventId
    expires_at: dt.datetime


class CanonApprovalRequested(Event, frozen=True, tag="canon-approval-requested"):
    """A call waits for a person's approval."""

    data: ApprovalRequestedData
    horizon: ClassVar[Horizon] = Horizon.CONSTITUTIONAL


class ApprovalDecidedData(EventData, frozen=True):
    approval_id: EventId
    decision: Literal["approved", "denied"]
    arguments_hash: str  # the arguments the person saw: an approval binds exactly those
    reason: str | None = None


class CanonApprovalDecided(Event, frozen=True, tag="canon-approval-decided"):
    """A person approved or denied a held call."""

    data: ApprovalDecidedData
    horizon: ClassVar[Horizon] = Horizon.CONSTITUTIONAL


class ApprovalExecutedData(EventData, frozen=True):
    approval_id: EventId
    outcome: Literal["executed", "refused", "failed"]
    result_event_id: EventId | None = None  # the write the approved call published
    stream: str | None = None
    seq: int | None = None
    error: str | None = None  # why it was refused or failed


class CanonApprovalExecuted(Event, frozen=True, tag="canon-approval-executed"):
    """The gateway ran an approved call (once), or says why it could not."""

    data: ApprovalExecutedData
    horizon: ClassVar[Horizon] = Horizon.CONSTITUTIONAL
