"""What a principal may call, decided by canon-hub's mandates, followed live from the log.

Policy (README, Security):
- **agents and services: deny by default.** A call is allowed only under a mandate whose holder is the
  caller's subject (or OAuth client id), that has not expired, been revoked or been reverted, and whose
  scope covers the hub and operation.
- **people: allowed.** A person's identity is verified by the issuer, every write is recorded with that
  identity and can be reverted; their authority comes from the organisation, not from a mandate.

A mandate's scope is a list of `HUB[:OPERATIONS]` entries (commas or spaces between them): HUB is a hub slug
or a glob (`*`, `ops-*`); OPERATIONS is `read` (every read), `write` (every write), `*`, or an operation name
or glob (`get_*`); a bare HUB allows every operation of that hub. Constraints narrow it: `read-only`, and
`not HUB:OPERATIONS` to carve an entry out. A constraint the gateway does not know makes the mandate grant
nothing (it fails closed) rather than be read more widely than its author meant.

The gateway folds canon-hub's `canon-mandate-granted`, `canon-mandate-revoked` and `event-reverted` events
from the CONSTITUTIONAL stream with one ordered consumer (`MandateFollower`), in memory: it reads to the head
before the gateway answers, then follows, so a revocation refuses the next call within milliseconds — there
is no cache to go stale and no database read per call.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import re
from dataclasses import dataclass, field
from fnmatch import fnmatchcase

import structlog
from nats.js import JetStreamContext

from vsmesh.bus.provenance import decode_stored
from vsmesh.bus.reader import Start, StreamReader
from vsmesh.errors import InvalidEvent
from vsmesh.events.envelope import Event
from vsmesh.events.governance import REVERT_TYPE
from vsmesh.gateway.identity.principal import Principal
from vsmesh.projectors.engine.reverted import effective

log = structlog.get_logger(__name__)

CANON_HUB = "canon-hub"
MANDATE_STREAM = "CONSTITUTIONAL"
MANDATE_SUBJECT = f"constitutional.{CANON_HUB}.>"
FOLDED = frozenset({"canon-mandate-granted", "canon-mandate-revoked", REVERT_TYPE})
_SEPARATORS = re.compile(r"[,\s]+")
_NOT = re.compile(r"^not\s+(\S+)$", re.IGNORECASE)


@dataclass(frozen=True)
class Entry:
    """One `HUB[:OPERATIONS]` entry of a scope."""

    hub: str
    operations: str = "*"

    @classmethod
    def parse(cls, text: str) -> Entry:
        hub, _, operations = text.strip().partition(":")
        return cls(hub or "*", operations or "*")

    def covers(self, hub: str, operation: str, write: bool) -> bool:
        if not fnmatchcase(hub, self.hub):
            return False
        if self.operations == "read":
            return not write
        if self.operations == "write":
            return write
        return fnmatchcase(operation, self.operations)


def parse_scope(scope: str | None) -> tuple[Entry, ...]:
    return tuple(Entry.parse(part) for part in _SEPARATORS.split(scope or "") if part)


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

    @classmethod
    def of(cls, event: Event) -> Mandate:
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


@dataclass
class MandateBook:
    """The fold: every grant, which are revoked, and which events are reverted (and restored again)."""

    granted: dict[str, Mandate] = field(default_factory=dict)
    revoked_by: dict[str, str] = field(default_factory=dict)  # revocation event id -> mandate id
    reverts: list[tuple[str, str]] = field(default_factory=list)  # (revert id, reverted event id)
    _reverted: frozenset[str] = frozenset()

    def apply(self, event: Event) -> None:
        if event.type == "canon-mandate-granted":
            self.granted[event.id] = Mandate.of(event)
        elif event.type == "canon-mandate-revoked":
            self.revoked_by[event.id] = event.data.mandate_id
        elif event.type == REVERT_TYPE:
            self.reverts.append((event.id, event.data.event_id))
            self._reverted = effective(self.reverts)

    def in_force(self, now: dt.datetime) -> list[Mandate]:
        revoked = {m for rid, m in self.revoked_by.items() if rid not in self._reverted}
        return [
            m
            for m in self.granted.values()
            if m.mandate_id not in self._reverted and m.mandate_id not in revoked and (m.until is None or now < m.until)
        ]

    def decide(self, who: Principal, hub: str, operation: str, write: bool, now: dt.datetime | None = None) -> Decision:
        access = "write" if write else "read"
        if who.kind == "human":
            return Decision(True, "people act on their verified identity (mandates bind agents and services)")
        now = now or dt.datetime.now(dt.UTC)
        holders = {who.subject, who.client_id} - {""}
        held = [m for m in self.in_force(now) if m.holder in holders]
        for m in held:
            if m.covers(hub, operation, write, now):
                return Decision(True, f"mandate {m.mandate_id} ({m.role}: {m.scope})", mandate_id=m.mandate_id)
        missing = f"{hub}:{operation}"
        if not held:
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
