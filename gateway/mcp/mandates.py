"""What a principal may call, decided by canon-hub's mandates, followed live from the log.

Policy (README, Security):
- **agents and services: deny by default.** A call is allowed only under a mandate whose holder is the
  caller's subject (or OAuth client id), that has not expired, been revoked or been reverted, and whose
  scope covers the hub and operation.
- **people: allowed.** A person's identity is verified by the issuer, every write is recorded with that
  identity and can be reverted; their authority comes from the organisation, not from a mandate.

A mandate's scope is a list of `HUB[:OPERATIONS]` entries (events/schemas/mandate_terms.py). Constraints
narrow it: `read-only`, and `not HUB:OPERATIONS` to carve an entry out. A constraint the gateway does not
know makes the mandate grant nothing (it fails closed) rather than be read more widely than its author meant.

**Delegation.** A mandate `delegated_from` another grants at most what that one grants at the time of each
call: the whole chain must be in force and cover the call, so revoking (or reverting) a mandate ends every
mandate delegated from it. Canon may name non-delegable powers (the policy value `non_delegable`, a list of
scope entries): a delegated mandate grants nothing of them. The chain's approve conditions and caps all
apply (gateway/mcp/caps.py, approvals.py).

The gateway folds canon-hub's mandate, policy, approval and `event-reverted` events from the CONSTITUTIONAL
stream with one ordered consumer (`MandateFollower`), in memory: it reads to the head before the gateway
answers, then follows, so a revocation refuses the next call within milliseconds — there is no cache to go
stale and no database read per call.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import re
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import structlog
from nats.js import JetStreamContext

from vsmesh.bus.provenance import decode_stored
from vsmesh.bus.reader import Start, StreamReader
from vsmesh.errors import InvalidEvent
from vsmesh.events.envelope import Event
from vsmesh.events.governance import REVERT_TYPE
from vsmesh.events.schemas.canon import (
    CanonApprovalDecided,
    CanonApprovalExecuted,
    CanonApprovalRequested,
    CanonMandateGranted,
    CanonMandateRevoked,
    CanonPolicyDeclared,
    MandateCaps,
)
from vsmesh.events.schemas.hub import EventReverted
from vsmesh.events.schemas.mandate_terms import Condition, Entry, parse_conditions, parse_scope
from vsmesh.gateway.identity.principal import Principal
from vsmesh.gateway.mcp.approvals import Approval, ApprovalBook
from vsmesh.projectors.engine.reverted import effective

log = structlog.get_logger(__name__)

CANON_HUB = "canon-hub"
MANDATE_STREAM = "CONSTITUTIONAL"
MANDATE_SUBJECT = f"constitutional.{CANON_HUB}.>"
FOLDED = frozenset(
    {
        "canon-mandate-granted",
        "canon-mandate-revoked",
        "canon-policy-declared",
        "canon-approval-requested",
        "canon-approval-decided",
        "canon-approval-executed",
        REVERT_TYPE,
    }
)
NON_DELEGABLE = "non_delegable"  # the canon policy value naming powers no delegated mandate grants
_NOT = re.compile(r"^not\s+(\S+)$", re.IGNORECASE)
_MAX_CHAIN = 16  # a delegation chain longer than this (or a loop) grants nothing


@dataclass(frozen=True)
class Mandate:
    mandate_id: str
    holder: str
    role: str
    scope: str
    entries: tuple[Entry, ...]
    until: dt.datetime | None = None
    read_only: bool = False
    carve_outs: tuple[Entry, ...] = ()
    unknown_constraints: tuple[str, ...] = ()
    approve: tuple[Condition, ...] = ()
    caps: MandateCaps | None = None
    delegated_from: str | None = None

    @classmethod
    def of(cls, event: CanonMandateGranted) -> Mandate:
        d = event.data
        read_only, carve_outs, unknown = False, [], []
        for constraint in d.constraints:
            text = constraint.strip()
            if text.lower() == "read-only":
                read_only = True
            elif m := _NOT.match(text):
                carve_outs.append(Entry.parse(m.group(1)))
            else:
                unknown.append(text)
        # Before the field existed a delegation was written in metadata (the demo's first grants).
        delegated_from = d.delegated_from or d.metadata.get("delegated_from")
        return cls(
            event.id,
            d.holder,
            d.role,
            d.scope or "",
            parse_scope(d.scope),
            d.granted_until,
            read_only,
            tuple(carve_outs),
            tuple(unknown),
            parse_conditions(d.approve),
            d.caps,
            str(delegated_from) if delegated_from else None,
        )

    def covers(self, hub: str, operation: str, write: bool, now: dt.datetime) -> bool:
        if self.unknown_constraints or (self.until is not None and now >= self.until):
            return False
        if write and self.read_only:
            return False
        if any(e.covers(hub, operation, write) for e in self.carve_outs):
            return False
        return any(e.covers(hub, operation, write) for e in self.entries)


@dataclass(frozen=True)
class Decision:
    allowed: bool
    reason: str
    mandate_id: str | None = None
    missing: str | None = None  # the scope entry a mandate would need
    chain: tuple[Mandate, ...] = ()  # the mandate that allows the call, then each it is delegated from

    def approval_needed(self, hub: str, operation: str, write: bool, arguments: Mapping[str, Any]) -> Condition | None:
        """The first approve condition of the chain that holds this call for a person, if any."""
        for m in self.chain:
            for condition in m.approve:
                if condition.needs_approval(hub, operation, write, arguments):
                    return condition
        return None


@dataclass
class MandateBook:
    """The fold: every grant, which are revoked, which events are reverted (and restored again), canon's
    non-delegable powers, and the approvals the gateway holds calls for."""

    granted: dict[str, Mandate] = field(default_factory=dict)
    revoked_by: dict[str, str] = field(default_factory=dict)  # revocation event id -> mandate id
    reverts: list[tuple[str, str]] = field(default_factory=list)  # (revert id, reverted event id)
    policies: dict[str, tuple[str, Any]] = field(default_factory=dict)  # policy slug -> (event id, values)
    approvals: ApprovalBook = field(default_factory=ApprovalBook)
    _reverted: frozenset[str] = frozenset()

    def apply(self, event: Event) -> None:
        match event:
            case CanonMandateGranted():
                self.granted[event.id] = Mandate.of(event)
            case CanonMandateRevoked():
                self.revoked_by[event.id] = event.data.mandate_id
            case CanonPolicyDeclared():
                self.policies[event.data.policy] = (event.id, event.data.metadata.get("values"))
            case CanonApprovalRequested() | CanonApprovalDecided() | CanonApprovalExecuted():
                self.approvals.apply(event)
            case EventReverted():
                self.reverts.append((event.id, event.data.event_id))
                self._reverted = effective(self.reverts)

    def non_delegable(self) -> dict[Entry, str]:
        """Powers canon declares non-delegable, each with the policy that says so."""
        found: dict[Entry, str] = {}
        for policy, (event_id, values) in self.policies.items():
            if event_id in self._reverted or not isinstance(values, dict):
                continue
            named = values.get(NON_DELEGABLE)
            for text in named if isinstance(named, list) else []:
                found.setdefault(Entry.parse(str(text)), policy)
        return found

    def in_force(self, now: dt.datetime) -> list[Mandate]:
        """Every mandate that holds now, its whole delegation chain included."""
        ended = self._ended(now)
        return [m for m in self.granted.values() if self._ends(m, ended) is None]

    def _ended(self, now: dt.datetime) -> set[str]:
        """Mandates that no longer hold on their own: reverted, revoked or past their date."""
        revoked = {m for rid, m in self.revoked_by.items() if rid not in self._reverted}
        ended = (self._reverted | revoked) & self.granted.keys()
        return ended | {i for i, m in self.granted.items() if m.until is not None and now >= m.until}

    def _ends(self, m: Mandate, ended: set[str]) -> str | None:
        """Why `m` does not hold (it, or a mandate up its chain, ended), or None while it holds."""
        seen = [m.mandate_id]
        while True:
            if m.mandate_id in ended:
                return "ended" if len(seen) == 1 else f"delegated from {m.mandate_id}, which no longer holds"
            if m.delegated_from is None:
                return None
            parent = self.granted.get(m.delegated_from)
            if parent is None:
                return f"delegated from {m.delegated_from}, which canon-hub never granted"
            if parent.mandate_id in seen or len(seen) >= _MAX_CHAIN:
                return f"its delegation chain loops or runs past {_MAX_CHAIN} mandates"
            seen.append(parent.mandate_id)
            m = parent

    def _chain(self, m: Mandate) -> tuple[Mandate, ...]:
        chain = [m]
        while chain[-1].delegated_from is not None:
            chain.append(self.granted[chain[-1].delegated_from])
        return tuple(chain)

    def _grants(
        self, chain: tuple[Mandate, ...], hub: str, operation: str, write: bool, now: dt.datetime
    ) -> str | None:
        """Why a chain does not allow this call, or None when it does: each mandate must cover it, and no
        delegated one may hand down a power canon declares non-delegable."""
        for below, m in zip(chain, chain[1:], strict=False):
            if not m.covers(hub, operation, write, now):
                return f"{below.mandate_id} is delegated from {m.mandate_id}, which does not cover {hub}:{operation}"
        if len(chain) > 1:
            for entry, policy in self.non_delegable().items():
                if entry.covers(hub, operation, write):
                    return (
                        f"{hub}:{operation} is non-delegable (canon policy {policy}: {entry}) and {chain[0].mandate_id}"
                        f" is delegated from {chain[1].mandate_id}: it grants nothing of it"
                    )
        return None

    def decide(self, who: Principal, hub: str, operation: str, write: bool, now: dt.datetime | None = None) -> Decision:
        access = "write" if write else "read"
        if who.kind == "human":
            return Decision(True, "people act on their verified identity (mandates bind agents and services)")
        now = now or dt.datetime.now(dt.UTC)
        holders = {who.subject, who.client_id} - {""}
        ended = self._ended(now)
        held = [m for m in self.granted.values() if m.holder in holders and self._ends(m, ended) is None]
        narrowed: list[str] = []
        for m in held:
            if not m.covers(hub, operation, write, now):
                continue
            chain = self._chain(m)
            why = self._grants(chain, hub, operation, write, now)
            if why is None:
                return Decision(True, f"mandate {m.mandate_id} ({m.role}: {m.scope})", m.mandate_id, chain=chain)
            narrowed.append(why)
        missing = f"{hub}:{operation}"
        if narrowed:
            reason = f"{who.kind} {who.subject} may not {access} {missing}: " + "; ".join(narrowed)
        elif not held:
            reason = f"{who.kind} {who.subject} holds no mandate in force; a {access} of {missing} needs one"
        else:
            scopes = "; ".join(f"{m.mandate_id} ({m.scope}{self._narrowed(m)})" for m in held)
            reason = f"no mandate of {who.kind} {who.subject} covers {access} {missing}; it holds: {scopes}"
        reason += f" (ask a person to grant a canon-hub mandate with scope {missing})"
        return Decision(False, reason, None, missing)

    @staticmethod
    def _narrowed(m: Mandate) -> str:
        notes = [" read-only"] if m.read_only else []
        notes += [f" not {e.hub}:{e.operations}" for e in m.carve_outs]
        notes += [f" unknown constraint {c!r}: grants nothing" for c in m.unknown_constraints]
        return "," + ",".join(notes) if notes else ""


class MandateFollower:
    """Keeps a `MandateBook` current from canon-hub's constitutional events (one ordered consumer)."""

    def __init__(self, js: JetStreamContext) -> None:
        self._js = js
        self._on_approved: Callable[[Approval], Awaitable[None]] | None = None
        self._handed: set[str] = set()  # approvals handed to `on_approved` (each once per process)
        self.book = MandateBook()
        self.applied_seq = 0
        self._reader: StreamReader | None = None
        self._task: asyncio.Task | None = None
        self._changed = asyncio.Condition()

    async def start(self) -> None:
        """Read every mandate event stored so far, then follow: the gateway answers only after this."""
        self._reader = StreamReader(self._js, MANDATE_STREAM, MANDATE_SUBJECT, Start())
        await self._reader.__aenter__()
        async for batch in self._reader.drain_to_head(1000):
            await self._apply(batch)
        self._task = asyncio.create_task(self._follow(), name="mandate-follower")
        self._task.add_done_callback(_report_stop)
        log.info("mandates followed", mandates=len(self.book.granted), seq=self.applied_seq)

    async def _follow(self) -> None:
        assert self._reader is not None
        while True:
            batch = await self._reader.batch(1000, 0.0, timeout=None)
            await self._apply(batch)

    async def _apply(self, batch: list) -> None:
        for msg in batch:
            self.applied_seq = msg.metadata.sequence.stream
            if msg.subject.split(".")[2] not in FOLDED:
                continue
            try:
                event = decode_stored(msg.data, msg.headers, msg.subject)
            except InvalidEvent as e:  # forged or malformed: no mandate comes of it, and we say so
                log.warning("mandate event skipped", subject=msg.subject, seq=self.applied_seq, error=str(e))
                continue
            self.book.apply(event)
        async with self._changed:
            self._changed.notify_all()
        await self._hand_over()

    async def hand_over_to(self, run: Callable[[Approval], Awaitable[None]]) -> None:
        """From now on, give every approved call to `run` once (those approved while the gateway was down first)."""
        self._on_approved = run
        await self._hand_over()

    async def _hand_over(self) -> None:
        if self._on_approved is None:
            return
        for approval in self.book.approvals.ready():
            if approval.approval_id not in self._handed:
                self._handed.add(approval.approval_id)
                await self._on_approved(approval)

    @property
    def following(self) -> bool:
        """False once the follower has stopped (a NATS error it could not ride out): decisions would go stale."""
        return self._task is not None and not self._task.done()

    async def wait_for(self, seq: int, timeout: float = 5.0) -> bool:
        """True once the book has applied the stream's `seq` (tests and the CLI: a grant just published)."""

        async def reached() -> None:
            async with self._changed:
                await self._changed.wait_for(lambda: self.applied_seq >= seq)

        try:
            await asyncio.wait_for(reached(), timeout)
        except TimeoutError:
            return False
        return True

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._reader is not None:
            await self._reader.__aexit__(None, None, None)


def _report_stop(task: asyncio.Task) -> None:
    if not task.cancelled() and task.exception() is not None:
        error = str(task.exception())
        log.error("mandates no longer followed: agents are refused until the gateway restarts", error=error)
