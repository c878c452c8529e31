"""Calls held for a person's approval: the fold of canon-hub's approval events (pure, no I/O).

An approval is requested by the gateway (`canon-approval-requested`, its id the approval's id, its actor the
caller), decided by a person (`canon-approval-decided` through canon-hub's `approve_call` / `deny_call`) and
run once by the gateway (`canon-approval-executed`). The fold takes the first decision only, and only a
person's made before the approval expired: a decision by an agent or a service, however it reached the log,
approves nothing.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

import structlog

from vsmesh.events.envelope import Event
from vsmesh.events.schemas.canon import CanonApprovalDecided, CanonApprovalExecuted, CanonApprovalRequested

log = structlog.get_logger(__name__)


@dataclass
class Approval:
    approval_id: str
    holder: str  # the caller whose call is held (the request's actor)
    holder_kind: str
    session: str | None  # the caller's MCP session: the correlation id of what runs
    hub: str
    operation: str
    arguments: dict[str, Any]
    arguments_hash: str
    condition: str
    mandate_id: str
    expires_at: dt.datetime
    decision: str | None = None  # approved | denied
    decided_hash: str | None = None
    decided_by: str | None = None
    outcome: str | None = None  # executed | refused | failed

    @property
    def key(self) -> tuple[str, str, str, str]:
        return (self.holder, self.hub, self.operation, self.arguments_hash)


@dataclass
class ApprovalBook:
    by_id: dict[str, Approval] = field(default_factory=dict)
    _open: dict[tuple[str, str, str, str], str] = field(default_factory=dict)  # undecided: key -> approval id

    def apply(self, event: Event) -> None:
        match event:
            case CanonApprovalRequested():
                self._requested(event)
            case CanonApprovalDecided():
                self._decided(event)
            case CanonApprovalExecuted():
                found = self.by_id.get(event.data.approval_id)
                if found is not None and found.outcome is None:
                    found.outcome = event.data.outcome

    def _requested(self, event: CanonApprovalRequested) -> None:
        if event.id in self.by_id:  # the gateway folds its own request at once, and again from the log
            return
        d = event.data
        approval = Approval(
            event.id, event.actor, event.actorkind, event.correlationid, d.hub, d.operation, dict(d.arguments),
            d.arguments_hash, d.condition, d.mandate_id, d.expires_at,
        )  # fmt: skip
        self.by_id[event.id] = approval
        self._open[approval.key] = event.id

    def _decided(self, event: CanonApprovalDecided) -> None:
        d = event.data
        found = self.by_id.get(d.approval_id)
        if found is None or found.decision is not None:
            return
        if event.actorkind != "human" or event.time > found.expires_at:
            why = "not a person's" if event.actorkind != "human" else "made after the approval expired"
            log.warning("approval decision ignored", approval=d.approval_id, actor=event.actor, event_id=event.id,
                        reason=why)  # fmt: skip
            return
        found.decision, found.decided_hash, found.decided_by = d.decision, d.arguments_hash, event.actor
        self._open.pop(found.key, None)

    def open_for(self, holder: str, hub: str, operation: str, digest: str, now: dt.datetime) -> Approval | None:
        """The undecided, unexpired approval of this very call, if the caller already asked for it."""
        found = self.by_id.get(self._open.get((holder, hub, operation, digest), ""))
        return found if found is not None and now < found.expires_at else None

    def ready(self) -> list[Approval]:
        """Approved calls the gateway has not run (nor refused to run) yet."""
        return [a for a in self.by_id.values() if a.decision == "approved" and a.outcome is None]
