"""`vsmesh audit …`: who did what (the group itself, cli/audit_cmd.py), and aud-hub's checks and findings."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from vsmesh.cli.audit_cmd import audit
from vsmesh.cli.context import ask_hub, is_terminal, run, settings_from
from vsmesh.cli.options import DataDir, Json
from vsmesh.cli.output import console, echo_json, table

HUB = "aud-hub"
CHECKS = ("chain", "rebuild", "mandates", "freshness")
RUN_TIMEOUT_S = 600.0  # a rebuild of every hub into a copy: minutes on a big mesh

audit_app = typer.Typer(help="Who did what; the independent audit's checks and findings (aud-hub).")
audit_app.callback(invoke_without_command=True)(audit)


@audit_app.command("run")
def run_cmd(
    check: list[str] = typer.Option(None, "--check", help=f"only this check (repeat): {', '.join(CHECKS)}"),
    hub: list[str] = typer.Option(None, "--hub", help="hubs the rebuild check compares (repeat; default: all)"),
    since: str = typer.Option(None, "--since", help="how far back the mandate check reads, e.g. 1h, 7d"),
    data_dir: Path | None = DataDir,
    as_json: bool = Json,
) -> None:
    """Run the audit now: the chain, every hub against a rebuild from its log, agents' mandates, evidence
    freshness. Publishes findings raised and resolved; exits 1 when a check did not pass."""
    from vsmesh.durations import parse_duration

    unknown = [c for c in check or () if c not in CHECKS]
    if unknown:
        raise typer.BadParameter(f"unknown check {unknown[0]!r}; use one of {', '.join(CHECKS)}", param_hint="--check")
    try:
        period = parse_duration(since) if since else None
    except ValueError as e:
        raise typer.BadParameter(str(e), param_hint="--since") from None
    settings = settings_from(data_dir)
    request: dict[str, Any] = {
        "checks": check or None,
        "hubs": hub or None,
        "period_s": period,
        "actor": settings.actor,
        "actor_kind": settings.actor_kind,
    }
    asking = ask_hub(settings, HUB, "run_audit", request, timeout=RUN_TIMEOUT_S)
    if is_terminal() and not as_json:
        with console.status("auditing: the chain, each hub against its log, mandates, evidence …"):
            answer = run(asking)
    else:
        answer = run(asking)
    if as_json:
        echo_json(answer)
    else:
        _print_run(answer)
    if not answer["passed"]:
        raise typer.Exit(1)


def _print_run(answer: dict[str, Any]) -> None:
    rows = []
    for c in answer["checks"]:
        state = "[green]passed[/]" if c["passed"] else ("[red]FAILED[/]" if c["findings"] else "[yellow]not run[/]")
        found = "; ".join(f"{f['severity']}: {f['title']}" for f in c["findings"]) or c["error"] or "-"
        rows.append([c["check"], state, c["read"], found])
    console.print(table("audit", ["check", "result", "read", "findings"], rows, whole=["check"]))
    changes = [f"raised {r['finding_id']}" for r in answer["raised"]] + [
        f"resolved {r['finding_id']}" for r in answer["resolved"]
    ]
    verdict = "every check passed" if answer["passed"] else "not every check passed"
    typer.echo(f"{verdict}; " + ("; ".join(changes) if changes else "no finding changed"))


@audit_app.command("findings")
def findings_cmd(
    status: str = typer.Option("open", "--status", help="open, resolved or all"),
    check: str = typer.Option(None, "--check", help=f"only this check: {', '.join(CHECKS)}"),
    data_dir: Path | None = DataDir,
    as_json: bool = Json,
) -> None:
    """The audit's findings (open by default), worst first, with what each is about."""
    if status not in ("open", "resolved", "all"):
        raise typer.BadParameter("use open, resolved or all", param_hint="--status")
    if check is not None and check not in CHECKS:
        raise typer.BadParameter(f"use one of {', '.join(CHECKS)}", param_hint="--check")
    request = {"status": None if status == "all" else status, "check": check}
    answer = run(ask_hub(settings_from(data_dir), HUB, "get_findings", request))
    if as_json:
        echo_json(answer["findings"])
        return
    rows = [
        [f["severity"], f["status"], f["check_name"], f["finding_id"], f["title"], str(f["raised_at"])[:19]]
        for f in answer["findings"]
    ]
    console.print(
        table("audit findings", ["severity", "status", "check", "finding", "title", "raised"], rows, whole=["finding"])
    )
