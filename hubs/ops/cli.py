"""`vsmesh ops …`: ops-hub's services and migration readiness, asked over NATS through its contract."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from vsmesh.cli.context import ask_hub, run, settings_from
from vsmesh.cli.options import DataDir, Json, Wide
from vsmesh.cli.output import console, duration, echo_json, show_table, table

ops_app = typer.Typer(help="ops-hub: what runs where, its health, and migration readiness.", no_args_is_help=True)

_COLOURS = {"green": "green", "amber": "yellow", "red": "red", "retired": "dim"}


def _health(status: str | None) -> str:
    return f"[{_COLOURS.get(status or '', 'dim')}]{status or 'unknown'}[/]"


@ops_app.command("services")
def services(
    environment: str = typer.Option(None, "--environment", "-e", help="only services in this environment"),
    name: str = typer.Option(None, "--name", help="only this service"),
    include_retired: bool = typer.Option(False, "--retired", help="include retired services"),
    limit: int = typer.Option(None, "--limit", min=1, help="list at most this many services"),
    offset: int = typer.Option(None, "--offset", min=0, help="skip this many services first"),
    data_dir: Path | None = DataDir,
    as_json: bool = Json,
    wide: bool = Wide,
) -> None:
    """What runs where, why, who owns it, how it is reached, and what proves it healthy (one page of them)."""
    settings = settings_from(data_dir)
    request = {"environment": environment, "name": name, "include_retired": include_retired}
    request |= {"limit": limit, "offset": offset}
    answer = run(ask_hub(settings, "ops-hub", "get_services", {k: v for k, v in request.items() if v}))
    if as_json:
        echo_json(answer)
        return
    rows = [_service_row(s, wide) for s in answer["services"]]
    columns = ["service", "health", "environment", "runs on", "owner", "why", "reached via", "evidence", "cost"]
    keep = ["service", "health", "environment", "runs on", "evidence"]
    # A name or health folded over lines is hard to read and to grep.
    show_table("ops-hub services", columns, rows, keep=keep, wide=wide, whole=["service", "health"])
    total, first = answer.get("services_total", len(rows)), offset or 0
    if len(rows) < total:  # one page of them: say where it is and how to see the next
        more = f"; the next with --offset {answer['next_offset']}" if answer.get("next_offset") else ""
        console.print(f"services {first + 1}–{first + len(rows)} of {total}{more}", highlight=False)


def _service_row(s: dict[str, Any], wide: bool) -> list[Any]:
    place = (s["host"] or "") + (f" ({s['namespace']})" if s["namespace"] else "")
    reach = [e["url"] or e["name"] for e in s["endpoints"]] + [f"{p['type']}: {p['target']}" for p in s["access_paths"]]
    proof = [f"{e['kind']} {e['status']} ({_age(e['age_minutes'])})" for e in s["evidence"]] + _cert_and_backup(s)
    mark = " (uncatalogued)" if wide else "\n(uncatalogued)"  # under the name: the column stays as narrow as names
    name = s["name"] if s["catalogued"] else s["name"] + mark
    return [
        name,
        _health(s["status"]),
        s["environment"],
        place,
        s["owner"],
        s["purpose"],
        "\n".join(reach),
        "\n".join(proof),
        "\n".join(f"{amount} {currency}" for currency, amount in (s.get("cost") or {}).items()),
    ]


def _cert_and_backup(s: dict[str, Any]) -> list[str]:
    """Certificate expiry and backup age, when probes (or anyone) reported them."""
    lines = []
    if s.get("tls_days_left") is not None:
        days = s["tls_days_left"]
        lines.append(f"[{'red' if days < 14 else 'green'}]certificate {duration(days * 86_400)} left[/]")
    if s.get("backup_age_hours") is not None:
        lines.append(f"backup {_age(s['backup_age_hours'] * 60)}")
    return lines


def _age(minutes: float | None) -> str:
    return "no time" if minutes is None else f"{duration(round(minutes * 60))} ago"


@ops_app.command("readiness")
def readiness(
    wave: str = typer.Argument(..., help="the migration wave, e.g. coulombcore-to-threephoenix"),
    data_dir: Path | None = DataDir,
    as_json: bool = Json,
    wide: bool = Wide,
) -> None:
    """A migration wave's gates, their status and evidence, and whether the wave may proceed."""
    settings = settings_from(data_dir)
    answer = run(ask_hub(settings, "ops-hub", "get_readiness", {"wave": wave}))
    if as_json:
        echo_json(answer)
        return
    verdict = "[green]may proceed[/]" if answer["may_proceed"] else "[red]may not proceed[/]"
    console.print(f"[bold]{answer['wave']}[/]: {answer['passing']}/{answer['total']} gates passing; {verdict}")
    rows = [
        [
            g["gate"],
            _health(g["status"]) + (f" ({g['verdict']})" if g["verdict"] else ""),
            "yes" if g["passing"] else "no",
            g["owner_repo"],
            g["evidence_required"],
            "\n".join(f"{p['event_id'][:8]} {p.get('summary') or '(superseded)'}" for p in g["evidence"]),
        ]
        for g in answer["gates"]
    ]
    columns = ["gate", "status", "passing", "owner repo", "evidence required", "evidence"]
    show_table("gates", columns, rows, keep=["gate", "status", "passing", "evidence"], wide=wide, whole=["gate"])


@ops_app.command("incidents")
def incidents(
    include_resolved: bool = typer.Option(False, "--all", help="include resolved incidents"),
    data_dir: Path | None = DataDir,
    as_json: bool = Json,
) -> None:
    """Open incidents (or all) with their timelines."""
    settings = settings_from(data_dir)
    answer = run(ask_hub(settings, "ops-hub", "get_incidents", {"include_resolved": include_resolved}))
    if as_json:
        echo_json(answer)
        return
    for i in answer["incidents"]:
        console.print(f"[bold]{i['title']}[/] [{i['severity']}] {i['status']} — {i['incident_id']}")
        steps = [[t["time"], t["status"], t["actor"], t["note"]] for t in i["timeline"]]
        console.print(table("timeline", ["time", "status", "actor", "note"], steps))
