"""`vsmesh audit`: who did what, where, with each action's revert state; read from the log itself."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer
from rich.console import Console  # light: vsmesh.cli.output has imported it already

from vsmesh.cli.context import is_terminal, run, settings_from
from vsmesh.cli.options import DataDir, Json
from vsmesh.cli.output import console, echo_json, table
from vsmesh.errors import ConfigError
from vsmesh.settings import Settings

KINDS = ("human", "agent", "service")


def audit(
    ctx: typer.Context,
    actor: str = typer.Option(None, "--actor", help="only this actor's actions"),
    actor_kind: str = typer.Option(None, "--actor-kind", help="only actors of this kind: human, agent or service"),
    since: str = typer.Option(None, "--since", help="10m, 2h, 1d (default: all history)"),
    hub: str = typer.Option(None, "--hub", help="only this hub's actions"),
    limit: int = typer.Option(200, "--limit", help="the latest N actions (0: all)"),
    data_dir: Path | None = DataDir,
    as_json: bool = Json,
) -> None:
    """Actions (time, actor, kind, hub, type, entity, event id) and whether, by whom and why each was reverted.
    `vsmesh audit run` runs the audit checks now; `vsmesh audit findings` lists what they found."""
    if ctx.invoked_subcommand is not None:  # the group's callback: a sub-command does the work
        return
    if actor_kind is not None and actor_kind not in KINDS:
        raise typer.BadParameter(f"use one of {', '.join(KINDS)}", param_hint="--actor-kind")
    if since is not None and since.isdigit():
        raise typer.BadParameter("use a duration like 10m, 2h or 1d", param_hint="--since")
    settings = settings_from(data_dir)
    rows = run(_audit(settings, actor, actor_kind, since, hub, limit))
    if as_json:
        echo_json(rows)
        return
    cells = [
        [
            r["time"].isoformat(timespec="seconds"),
            r["actor"],
            r["actor_kind"],
            r["hub"],
            r["type"],
            r["entity"] or "-",
            r["id"],
            _state(r),
        ]
        for r in rows
    ]
    columns = ["time", "actor", "kind", "hub", "type", "entity", "event id", "revert state"]
    shown = table("audit", columns, cells)
    shown.columns[6].no_wrap = True
    # Piped or captured, lines are not cut to 80 columns: a log or a grep wants whole ids and reasons.
    (console if is_terminal() else Console(width=220)).print(shown)


def _state(r: dict[str, Any]) -> str:
    if r["reverted"]:
        return f"[red]reverted[/] by {r['reverted_by']}: {r['revert_reason'] or '-'}"
    if r["restored"]:
        return "[green]restored[/] (its revert was reverted)"
    return ""


async def _audit(
    settings: Settings, actor: str | None, kind: str | None, since: str | None, hub: str | None, limit: int
) -> list[dict[str, Any]]:
    from vsmesh.bus.connection import connect
    from vsmesh.bus.reader import Start
    from vsmesh.bus.subjects import check_slug
    from vsmesh.cli.tail_cmd import _start
    from vsmesh.hubs.audit import audit_row, history, revert_state, reverts_since

    if hub is not None:
        try:
            check_slug(hub, "hub")
        except Exception as e:
            raise ConfigError(str(e)) from None
    nc = await connect(settings, name="vsmesh-audit")
    try:
        js = nc.jetstream()
        start = _start(since, False) if since else Start()
        stored = await history(js, f"*.{hub}.>" if hub else "*.>", start)
        # Reverts of any age: an action in the window may have been reverted by one outside it, and back.
        reverted, by_target = revert_state(await reverts_since(js))
    finally:
        await nc.drain()
    rows = [
        audit_row(s, reverted, by_target)
        for s in stored
        if (not actor or s.event.actor == actor) and (not kind or s.event.actorkind == kind)
    ]
    return rows[-limit:] if limit else rows
