"""Every agent's event of the period was covered by a mandate in force at its time, and every governance event
came from a person — judged from the log: canon-hub's grants and revocations, every hub's reverts, and the
horizon streams' events of the period (hubs/audit.py reads them, as `vsmesh audit` does).

An event names no contract operation, so "covered" is what the log can show: the agent held a mandate, granted
before the event and neither expired, revoked nor reverted by then, whose scope lets it write on the event's hub
(the gateway decides each call by operation; this check catches what bypassed it or outlived its mandate). A
reverted event is no finding: a person has already undone it.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from fnmatch import fnmatchcase
from typing import Any

from nats.js import JetStreamContext

from vsmesh.bus.reader import Start
from vsmesh.events.envelope import Event
from vsmesh.events.governance import ADMIN_ONLY_TYPES, REVERT_TYPE
from vsmesh.hubs.aud.findings import CheckResult, Finding
from vsmesh.hubs.audit import NOT_AGENT_ACTIONS, Stored, history, maybe_agent, revert_state, reverts_since

CHECK = "mandates"
CANON_SUBJECT = "constitutional.canon-hub.>"
GOVERNANCE = ADMIN_ONLY_TYPES | {REVERT_TYPE}


@dataclass(frozen=True)
class Grant:
    event: Event
    ended_at: dt.datetime | None  # revoked, or its grant reverted; None: never ended

    def lets_write(self, actor: str, hub: str, at: dt.datetime) -> bool:
        d = self.event.data
        if d.holder != actor or at < self.event.time or (self.ended_at is not None and at >= self.ended_at):
            return False
        if d.granted_until is not None and at >= d.granted_until:
            return False
        carved = []
        for constraint in (c.strip() for c in d.constraints):
            if not constraint.lower().startswith("not "):
                return False  # read-only, or a constraint nobody knows: it grants no write (the gateway fails closed)
            carved.append(constraint[4:].strip())
        if any(_names_writes(entry, hub) for entry in carved):
            return False
        return any(_names_writes(entry, hub) for entry in (d.scope or "").replace(",", " ").split())


def _names_writes(entry: str, hub: str) -> bool:
    """Whether a scope entry `HUB[:OPERATIONS]` may let its holder write on `hub`."""
    pattern, _, operations = entry.partition(":")
    return fnmatchcase(hub, pattern or "*") and operations != "read"


def grants(canon: list[Stored], reverts: list[Event]) -> list[Grant]:
    """Every mandate ever granted, with when it ended (by a revocation not reverted, or by its grant's revert)."""
    reverted, by_target = revert_state(reverts)
    ends: dict[str, dt.datetime] = {}
    for s in canon:
        e = s.event
        if e.type == "canon-mandate-revoked" and e.id not in reverted:
            ends[e.data.mandate_id] = min(e.time, ends.get(e.data.mandate_id, e.time))
    found = []
    for s in canon:
        if s.event.type != "canon-mandate-granted":
            continue
        ended = ends.get(s.event.id)
        if s.event.id in reverted:
            revert_at = by_target[s.event.id][-1].time
            ended = min(ended, revert_at) if ended else revert_at
        found.append(Grant(s.event, ended))
    return found


async def check_mandates(js: JetStreamContext, since: dt.datetime) -> CheckResult:
    canon = await history(js, CANON_SUBJECT, Start(), ("CONSTITUTIONAL",))
    reverts = await reverts_since(js)
    reverted, _ = revert_state(reverts)
    book = grants(canon, reverts)
    agents = [
        s
        for s in await history(js, "*.>", Start(at_time=since), keep=maybe_agent)
        if s.event.actorkind == "agent" and s.event.type not in NOT_AGENT_ACTIONS
    ]
    governed = [
        s
        for s in await history(js, "constitutional.>", Start(at_time=since), ("CONSTITUTIONAL",))
        if s.event.type in GOVERNANCE
    ]
    findings = [_unmandated(s) for s in agents if s.event.id not in reverted and not _covered(book, s.event)]
    findings += [_not_a_person(s) for s in governed if s.event.actorkind != "human" and s.event.id not in reverted]
    looked = {f"{CHECK}/{s.event.id}" for s in (*agents, *governed)}
    window = since.isoformat(timespec="seconds")
    read = (
        f"{len(agents)} agent and {len(governed)} governance events since {window}; {len(book)} mandates on canon-hub"
    )
    return CheckResult(CHECK, read, findings, covers=looked.__contains__)


def _covered(book: list[Grant], event: Event) -> bool:
    return any(g.lets_write(event.actor, event.hub, event.time) for g in book)


def _where(s: Stored) -> dict[str, Any]:
    e = s.event
    return {
        "event_id": e.id,
        "type": e.type,
        "hub": e.hub,
        "entity": e.subject,
        "actor": e.actor,
        "actor_kind": e.actorkind,
        "time": e.time.isoformat(),
        "stream": s.stream,
        "seq": s.seq,
    }


def _unmandated(s: Stored) -> Finding:
    e = s.event
    title = f"agent {e.actor} published {e.type} on {e.hub} without a mandate in force at {e.time.isoformat()}"
    return Finding(f"{CHECK}/{e.id}", CHECK, title, "high", _where(s))


def _not_a_person(s: Stored) -> Finding:
    e = s.event
    title = f"governance event {e.type} from {e.actorkind} {e.actor}, not a person"
    return Finding(f"{CHECK}/{e.id}", CHECK, title, "high", _where(s))
