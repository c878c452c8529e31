"""`vsmesh revert EVENT_ID --reason TEXT [--cascade]`: a person takes an event back; its hub re-folds without it.
`vsmesh revert --actor NAME [--since 1h] [--cascade]`: everything that actor did, in one command.

The revert is an `event-reverted` event (constitutional, the reverted event's hub); every hub's projector
skips reverted events and rebuilds itself when a revert arrives (projectors/engine/reverted.py). Reverting the
revert restores the event. With `--cascade`, everything the event caused (causation ids, across hubs) is
reverted too, each revert caused by the first one, so reverting that one with `--cascade` restores them all.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from vsmesh.cli.context import run, settings_from
from vsmesh.cli.options import DataDir, Json
from vsmesh.cli.output import console, echo_json, table
from vsmesh.errors import ConfigError
from vsmesh.settings import Settings

if TYPE_CHECKING:
    from vsmesh.events.envelope import Event


def revert(
    event_id: str = typer.Argument(None, help="the event to revert (see `vsmesh audit`); or use --actor alone"),
    reason: str = typer.Option(None, "--reason", help="why, for the audit (required with an event id)"),
    cascade: bool = typer.Option(False, "--cascade", help="also revert everything it caused, across hubs"),
    actor: str = typer.Option(
        None,
        "--actor",
        help="without an event id: revert everything this actor did (see --since); with one: who reverts (old form)",
    ),
    since: str = typer.Option(None, "--since", help="with --actor alone: only what it did in the last 10m, 2h, 1d"),
    by: str = typer.Option(None, "--by", help="who reverts [env VSMESH_ACTOR; default: your OS user]"),
    actor_kind: str = typer.Option(None, "--actor-kind", help="human, agent or service [env VSMESH_ACTOR_KIND]"),
    data_dir: Path | None = DataDir,
    as_json: bool = Json,
) -> None:
    """Revert an event, or everything an actor did: each hub shows its state without it within seconds.

    Reverting a revert restores what it reverted.
    """
    by_actor = event_id is None
    if by_actor and not actor:
        raise typer.BadParameter("name the event to revert, or --actor NAME to revert what that actor did")
    if not by_actor and since is not None:
        raise typer.BadParameter("--since goes with --actor alone (reverting everything an actor did)")
    reverter = by if (by or by_actor) else actor
    settings = settings_from(data_dir, actor=reverter, actor_kind=actor_kind)
    if by_actor:
        done = run(_revert_actor(settings, actor, since, cascade, reason))
    else:
        done = run(_revert(settings, event_id, reason or "", cascade))
    if as_json:
        echo_json(done)
        return
    cells = [[d["revert_id"], d["event_id"], d["hub"], d["type"], d["entity"] or "-", d["note"]] for d in done]
    console.print(table("reverted", ["revert id", "event", "hub", "type", "entity", "note"], cells))
    if by_actor:
        window = f" in the last {since}" if since else ""
        console.print(f"reverted {len(done)} event{'s' if len(done) != 1 else ''} of {actor}{window}")


async def _revert(settings: Settings, event_id: str, reason: str, cascade: bool) -> list[dict[str, Any]]:
    from vsmesh.bus.connection import connect
    from vsmesh.bus.publisher import Publisher
    from vsmesh.hubs.audit import history, revert_state
    from vsmesh.projectors.engine.reverted import REVERT_TYPE

    if not reason.strip():
        raise ConfigError("--reason must say why the event is reverted")
    nc = await connect(settings, name="vsmesh-revert")
    try:
        js = nc.jetstream()
        events = [s.event for s in await history(js)]
        by_id = {e.id: e for e in events}
        target = by_id.get(event_id)
        if target is None:
            raise ConfigError(f"no stored event has id {event_id}; `vsmesh audit` lists events with their ids")
        reverted, _ = revert_state([e for e in events if e.type == REVERT_TYPE])
        targets = [target] + (_caused_by(target, events) if cascade else [])
        return await _publish_reverts(Publisher(js, settings), targets, reverted, reason)
    finally:
        await nc.drain()


# Not actions to take back: reverts are undone by reverting them, and a refused call changed nothing.
_NOT_ACTIONS = frozenset({"event-reverted", "canon-call-refused"})


async def _revert_actor(
    settings: Settings, actor: str, since: str | None, cascade: bool, reason: str | None
) -> list[dict[str, Any]]:
    """Revert every action of `actor` (in the window) not reverted yet, each with what it caused when `cascade`."""
    from vsmesh.bus.connection import connect
    from vsmesh.bus.publisher import Publisher
    from vsmesh.bus.reader import Start
    from vsmesh.cli.tail_cmd import _start
    from vsmesh.hubs.audit import history, revert_state, reverts_since

    window = f" in the last {since}" if since else ""
    reason = reason or f"everything {actor} did{window}, reverted at once"
    nc = await connect(settings, name="vsmesh-revert")
    try:
        js = nc.jetstream()
        events = [s.event for s in await history(js, start=_start(since, False) if since else Start())]
        # Reverts of any age: an action in the window may have been reverted by one outside it.
        reverted, _ = revert_state(await reverts_since(js))
        mine = [e for e in events if e.actor == actor and e.type not in _NOT_ACTIONS and e.id not in reverted]
        if not mine:
            raise ConfigError(
                f"{actor} did nothing{window} that is not reverted already; `vsmesh audit --actor {actor}`"
            )
        publisher, done, seen = Publisher(js, settings), [], set()
        for target in mine:
            if target.id in seen:
                continue  # caused by an earlier action of the actor: reverted in that cascade
            chain = [target] + (_caused_by(target, events) if cascade else [])
            chain = [e for e in chain if e.id not in seen]
            seen.update(e.id for e in chain)
            done += await _publish_reverts(publisher, chain, reverted, reason)
        return done
    finally:
        await nc.drain()


async def _publish_reverts(
    publisher: Any, targets: list[Event], reverted: frozenset[str], reason: str
) -> list[dict[str, Any]]:
    """One `event-reverted` per target; those after the first are caused by the first (a cascade)."""
    from vsmesh.projectors.engine.reverted import REVERT_TYPE

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
        if e.causationid and e.causationid != e.id:
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
