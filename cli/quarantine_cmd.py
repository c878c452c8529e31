"""`vsmesh quarantine list | show ID | replay ID`: rejected events, their reasons, and a second chance."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import typer

from vsmesh.cli.context import run, settings_from
from vsmesh.cli.options import DataDir, Json
from vsmesh.cli.output import console, echo_json, table

if TYPE_CHECKING:
    from vsmesh.bus.quarantine import Quarantined


quarantine_app = typer.Typer(help="Events rejected where they were consumed, with their reasons.", no_args_is_help=True)


def _as_dict(q: Quarantined) -> dict:
    return {
        "id": q.seq,
        "time": q.time,
        "reason": q.reason,
        "origin": f"{q.origin_stream}:{q.origin_seq}",
        "subject": q.origin_subject,
        "found_by": q.found_by,
        "bytes": q.size,
    }


async def _with_js(settings, action):
    from vsmesh.bus.connection import connect

    nc = await connect(settings, name="vsmesh-quarantine")
    try:
        return await action(nc.jetstream())
    finally:
        await nc.drain()


@quarantine_app.command("list")
def list_cmd(data_dir: Path | None = DataDir, as_json: bool = Json) -> None:
    """Every quarantined message: id, origin, reason."""
    from vsmesh.bus.quarantine_store import list_quarantined

    items = run(_with_js(settings_from(data_dir), list_quarantined))
    if as_json:
        echo_json([_as_dict(q) for q in items])
        return
    rows = [[q.seq, q.time[:19], f"{q.origin_stream}:{q.origin_seq}", q.origin_subject, q.reason] for q in items]
    console.print(table("quarantine", ["id", "time", "origin", "subject", "reason"], rows))


@quarantine_app.command("show")
def show_cmd(qid: int = typer.Argument(..., metavar="ID"), data_dir: Path | None = DataDir, as_json: bool = Json):
    """One quarantined message with its original bytes and headers."""
    from vsmesh.bus.quarantine_store import get_quarantined

    q = run(_with_js(settings_from(data_dir), lambda js: get_quarantined(js, qid)))
    body = q.data.decode(errors="replace")
    if as_json:
        echo_json({**_as_dict(q), "headers": q.headers, "data": body})
        return
    for key, value in _as_dict(q).items():
        console.print(f"[bold]{key}[/]: {value}", highlight=False)
    console.print(f"[bold]headers[/]: {q.headers}", highlight=False)
    console.print(body[:4000], markup=False, highlight=False)


@quarantine_app.command("replay")
def replay_cmd(qid: int = typer.Argument(..., metavar="ID"), data_dir: Path | None = DataDir) -> None:
    """Validate a quarantined message again and, if it now passes, send it back to its stream."""
    from vsmesh.bus.quarantine_store import replay

    seq = run(_with_js(settings_from(data_dir), lambda js: replay(js, qid)))
    typer.echo(f"replayed quarantined message {qid} as sequence {seq}")
