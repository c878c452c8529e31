"""Reverting: a person takes back one event (and, with `cascade`, everything it caused), or everything one actor
did. What `vsmesh revert` asks the gateway to do as the signed-in person (gateway/people.py), and what it does
itself on the mesh's own admin connection before anyone signs in.

Each revert is an `event-reverted` event (constitutional, on the reverted event's hub); every hub's projector
skips reverted events and re-folds what they touched (projectors/engine/reverted.py). Reverting the revert
restores the event. A cascade's reverts after the first are caused by the first, so reverting that one with
`cascade` restores them all. The publisher names who reverts: its settings' actor.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from typing import Any

from nats.js import JetStreamContext

from vsmesh.bus.publisher import Publisher
from vsmesh.bus.reader import Start
from vsmesh.errors import ConfigError
from vsmesh.events.envelope import Event
from vsmesh.events.governance import REVERT_TYPE
from vsmesh.hubs.audit import history, revert_state, reverts_since

# Not actions to take back: reverts are undone by reverting them, and a refused call changed nothing.
_NOT_ACTIONS = frozenset({REVERT_TYPE, "canon-call-refused"})


async def revert_event(
    js: JetStreamContext, publisher: Publisher, event_id: str, reason: str, cascade: bool
) -> list[dict[str, Any]]:
    """Revert one event (with what it caused when `cascade`); one row per revert published."""
    if not reason.strip():
        raise ConfigError("--reason must say why the event is reverted")
    events = [s.event for s in await history(js)]
    target = next((e for e in events if e.id == event_id), None)
    if target is None:
        raise ConfigError(f"no stored event has id {event_id}; `vsmesh audit` lists events with their ids")
    reverted, _ = revert_state([e for e in events if e.type == REVERT_TYPE])
    targets = [target] + (_caused_by(target, events) if cascade else [])
    return await _publish_reverts(publisher, targets, reverted, reason)


async def revert_actor(
    js: JetStreamContext, publisher: Publisher, actor: str, since: str | None, cascade: bool, reason: str | None
) -> list[dict[str, Any]]:
    """Revert every action of `actor` (in the window) not reverted yet, each with what it caused when `cascade`."""
    window = f" in the last {since}" if since else ""
    reason = reason or f"everything {actor} did{window}, reverted at once"
    events = [s.event for s in await history(js, start=Start.since(since) if since else Start())]
    # Reverts of any age: an action in the window may have been reverted by one outside it.
    reverted, _ = revert_state(await reverts_since(js))
    mine = [e for e in events if e.actor == actor and e.type not in _NOT_ACTIONS and e.id not in reverted]
    if not mine:
        raise ConfigError(f"{actor} did nothing{window} that is not reverted already; `vsmesh audit --actor {actor}`")
    done: list[dict[str, Any]] = []
    seen: set[str] = set()
    for target in mine:
        if target.id in seen:
            continue  # caused by an earlier action of the actor: reverted in that cascade
        chain = [target] + (_caused_by(target, events) if cascade else [])
        chain = [e for e in chain if e.id not in seen]
        seen.update(e.id for e in chain)
        done += await _publish_reverts(publisher, chain, reverted, reason)
    return done


async def _publish_reverts(
    publisher: Publisher, targets: list[Event], reverted: frozenset[str], reason: str
) -> list[dict[str, Any]]:
    """One `event-reverted` per target; those after the first are caused by the first (a cascade)."""
    first = targets[0]
    done: list[dict[str, Any]] = []
    root: Event | None = None
    for e in targets:
        if e is not first and e.id in reverted:
            continue  # already reverted on its own: reverting the cascade's root leaves that revert alone
        data = {"event_id": e.id, "event_type": e.type, "entity": e.subject, "reason": reason}
        if root is not None:
            data["metadata"] = {"cascade_of": first.id}
        built = publisher.build(
            REVERT_TYPE,
            hub=e.hub,
            subject=e.subject,
            data=data,
            causation_id=root.id if root else None,
            correlation_id=root.id if root else None,
        )
        await publisher.publish(built)
        root = root or built
        note = "already reverted: reverted again" if e.id in reverted else ("cascade" if e is not first else "")
        done.append(
            {
                "revert_id": built.id,
                "event_id": e.id,
                "hub": e.hub,
                "type": e.type,
                "entity": e.subject,
                "note": note,
                "time": dt.datetime.now(dt.UTC),
            }
        )
    return done


def _caused_by(root: Event, events: list[Event]) -> list[Event]:
    """Everything `root` caused, directly or through what it caused, in causal order."""
    children: dict[str, list[Event]] = defaultdict(list)
    for e in events:
        if e.causationid and e.causationid != e.id and e.reverted_with_cause:
            children[e.causationid].append(e)
    found: list[Event] = []
    seen = {root.id}
    queue = [root]
    while queue:
        for child in children.get(queue.pop(0).id, []):
            if child.id not in seen:
                seen.add(child.id)
                found.append(child)
                queue.append(child)
    return found
