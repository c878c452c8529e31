"""`vsmesh pull …`: the pullers of a puller file, and one pull now (what it publishes, or would with --dry-run)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import typer

from vsmesh.cli.context import fail, run, settings_from
from vsmesh.cli.options import DataDir, Json, Wide
from vsmesh.cli.output import console, duration, echo_json, show_table
from vsmesh.settings import Settings

pull_app = typer.Typer(help="Pullers: OpenCost costs, Kubernetes services and token usage, pulled on a schedule.")

FileOption = typer.Option(None, "--file", "-f", help="the puller file [env VSMESH_PULLERS]", show_default=False)


def _read(path: Path | None, settings: Settings):
    """The puller file; a mistake in it is one line naming file, line and field."""
    from vsmesh.errors import VsmeshError
    from vsmesh.sources.pullers.model import load_puller_file

    chosen = path or settings.pullers
    if chosen is None:
        raise fail("name a puller file (--file FILE) or set VSMESH_PULLERS")
    try:
        return load_puller_file(chosen)
    except VsmeshError as e:
        raise fail(str(e)) from None


@pull_app.command("list")
def list_cmd(path: Path | None = FileOption, as_json: bool = Json) -> None:
    """The file's pullers: name, kind, how often and what each reads."""
    pullers = _read(path, settings_from(None, discover=False)).pullers
    rows = [[p.name, p.kind, p.every, _reads(p)] for p in pullers]
    if as_json:
        echo_json([dict(zip(("name", "kind", "every_s", "reads"), r, strict=True)) for r in rows])
        return
    shown = [[n, k, duration(e), r] for n, k, e, r in rows]
    show_table("pullers", ["name", "kind", "every", "reads"], shown, keep=["name", "kind", "every", "reads"],
               wide=False, whole=["name"])  # fmt: skip


def _reads(puller: Any) -> str:
    where = getattr(puller, "url", None) or getattr(puller, "api", None) or getattr(puller, "kubeconfig", None)
    where = where or getattr(puller, "path", None) or f"{puller.provider} API"
    spaces = getattr(puller, "namespaces", None)
    return f"{where}" + (f" ({', '.join(spaces)})" if spaces else "")


_COLUMNS = ("type", "subject", "why", "event", "stored")


@pull_app.command("run")
def run_cmd(
    name: str = typer.Argument(..., help="the puller's name in the file"),
    path: Path | None = FileOption,
    dry_run: bool = typer.Option(False, "--dry-run", help="show what the pull would publish; publish nothing"),
    data_dir: Path | None = DataDir,
    as_json: bool = Json,
    wide: bool = Wide,
) -> None:
    """Pull once now: read the tool, ask the hubs what they hold, publish what is new (as the pullers' actor,
    VSMESH_PULLERS_ACTOR) and show it; `--dry-run` only shows it."""
    settings = settings_from(data_dir)
    pullers = _read(path, settings)
    plan, stored = run(_pull(pullers, name, settings, dry_run))
    marks = {s.event_id: ("duplicate" if s.duplicate else s.sequence) for s in stored}
    rows = [[p.event_type, p.subject, p.why, p.event_id, marks.get(p.event_id)] for p in plan.events]
    if as_json:
        events = [dict(zip(_COLUMNS, r, strict=True)) for r in rows]
        echo_json({"puller": name, "read": plan.read, "skipped": plan.skipped, "dry_run": dry_run, "events": events})
        return
    verb = "would publish" if dry_run else "published"
    new = sum(not s.duplicate for s in stored)
    console.print(f"{name}: read {plan.read}, {verb} {len(plan.events) if dry_run else new} event(s)")
    for reason in plan.skipped:
        console.print(f"[yellow]skipped[/] {reason}")
    if rows:
        show_table(f"pull {name}", list(_COLUMNS), rows, keep=["type", "subject", "why"], wide=wide, whole=["event"])


async def _pull(pullers, name: str, settings: Settings, dry_run: bool):
    from vsmesh.bus.connection import connect
    from vsmesh.sources.pullers.jobs import pull

    puller = pullers.named(name)
    nc = await connect(settings, name="vsmesh-pull")
    try:
        # The file names its secrets by variable: this shell's environment holds them.
        return await pull(puller, nc, settings, os.environ, dry_run=dry_run)
    finally:
        await nc.close()
