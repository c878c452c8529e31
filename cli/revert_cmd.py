"""`vsmesh revert EVENT_ID --reason TEXT [--cascade]`: a person takes an event back; its hub re-folds without it.
`vsmesh revert --actor NAME [--since 1h] [--cascade]`: everything that actor did, in one command.

The gateway reverts as the signed-in person (hubs/revert.py does the work; gateway/people.py checks the person).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from vsmesh.cli.context import guarded, settings_from
from vsmesh.cli.options import DataDir, Json
from vsmesh.cli.output import console, echo_json, table
from vsmesh.errors import PermissionDenied


def revert(
    event_id: str = typer.Argument(None, help="the event to revert (see `vsmesh audit`); or use --actor alone"),
    reason: str = typer.Option(None, "--reason", help="why, for the audit (required with an event id)"),
    cascade: bool = typer.Option(False, "--cascade", help="also revert everything it caused, across hubs"),
    actor: str = typer.Option(
        None,
        "--actor",
        help="without an event id: revert everything this actor did (see --since); with one: you (old form of --by)",
    ),
    since: str = typer.Option(None, "--since", help="with --actor alone: only what it did in the last 10m, 2h, 1d"),
    by: str = typer.Option(None, "--by", help="who reverts: only the signed-in person's own name (`vsmesh whoami`)"),
    actor_kind: str = typer.Option(None, "--actor-kind", help="only human: the signed-in person reverts"),
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
    done = _revert(data_dir, reverter, actor_kind, event_id, actor if by_actor else None, since, reason, cascade)
    if as_json:
        echo_json(done)
        return
    cells = [[d["revert_id"], d["event_id"], d["hub"], d["type"], d["entity"] or "-", d["note"]] for d in done]
    console.print(table("reverted", ["revert id", "event", "hub", "type", "entity", "note"], cells))
    if by_actor:
        window = f" in the last {since}" if since else ""
        console.print(f"reverted {len(done)} event{'s' if len(done) != 1 else ''} of {actor}{window}")


@guarded
def _revert(
    data_dir: Path | None,
    reverter: str | None,
    actor_kind: str | None,
    event_id: str | None,
    actor: str | None,
    since: str | None,
    reason: str | None,
    cascade: bool,
) -> list[dict[str, Any]]:
    """Reverting is governance: the gateway does it as the signed-in person, who must have entered the password
    recently (`vsmesh login --step-up`); nobody signed in, nothing is reverted."""
    from vsmesh.cli.session import call_gateway, person

    settings = settings_from(data_dir)
    session = person(settings, "reverting", governance=True)
    if reverter not in (None, session.subject) or actor_kind not in (None, "human"):
        raise PermissionDenied(
            f"signed in as {session.subject}, you revert as {session.subject}: drop --by (and --actor-kind)"
        )
    body = {"event_id": event_id, "actor": actor, "since": since, "reason": reason, "cascade": cascade}
    return call_gateway(settings, session, "/people/revert", body)["reverted"]
