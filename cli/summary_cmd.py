"""`vsmesh summary HUB`: the hub's domain summary, asked over its contract (of the live hub or of a point-in-time
copy)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from vsmesh.cli.context import ask_hub, run, settings_from
from vsmesh.cli.options import DataDir, HubArg, Json
from vsmesh.cli.output import console, echo_json, table

_COLOURS = {"green": "green", "amber": "yellow", "red": "red"}


def summary(
    hub: str = HubArg,
    as_of: str = typer.Option(None, "--as-of", help="read point-in-time copy NAME (`vsmesh rebuild --into NAME`)"),
    limit: int = typer.Option(None, "--limit", min=1, help="ops-hub: list at most this many services"),
    offset: int = typer.Option(None, "--offset", min=0, help="ops-hub: skip this many services first"),
    data_dir: Path | None = DataDir,
    as_json: bool = Json,
) -> None:
    """A hub's summary: for ops-hub services by health (one page of them by name), open alerts and the latest
    events."""
    settings = settings_from(data_dir)
    page = {k: v for k, v in (("limit", limit), ("offset", offset)) if v is not None}
    # A point-in-time copy (`vsmesh rebuild --into NAME`) is answered by the hub's own contract, read-only.
    request = {**page, "point_in_time": as_of} if as_of else page
    result = run(ask_hub(settings, hub, "get_domain_summary", request))
    if as_json:
        echo_json(result)
    elif "services" in result and "by_status" in result:
        _render_ops(result, offset or 0)
    else:
        _render_generic(hub, result)


def _render_ops(result: dict[str, Any], offset: int) -> None:
    counts = ", ".join(f"{n} {s}" for s, n in sorted(result["by_status"].items())) or "no services yet"
    console.print(f"[bold]{result['hub']}[/]: {counts}; {result['open_alerts']} open alerts")
    rows = [
        [
            s["name"],
            f"[{_COLOURS.get(s['status'] or '', 'dim')}]{s['status'] or 'unknown'}[/]",
            s.get("environment"),
            s.get("owner"),
            s.get("checked_at"),
        ]
        for s in result["services"]
    ]
    console.print(table("services", ["service", "health", "environment", "owner", "checked"], rows))
    total = result.get("services_total", len(rows))
    if len(rows) < total:  # one page of them: say where it is and how to see the next
        more = f"; the next with --offset {result['next_offset']}" if result.get("next_offset") else ""
        console.print(f"services {offset + 1}–{offset + len(rows)} of {total}{more}", highlight=False)
    _certificates_and_backups(result["services"])
    events = [[e["time"], e["type"], e["entity"], e["actor"], e["summary"]] for e in result["recent_events"]]
    console.print(table("recent events", ["time", "type", "entity", "actor", "summary"], events))


def _certificates_and_backups(services: list[dict[str, Any]]) -> None:
    """Certificate expiry and backup age where probes reported them; lines of their own, since more columns
    fold the service names of the table above on a narrow terminal."""
    certs = [f"{s['name']} {s['tls_days_left']:.0f} d" for s in services if s.get("tls_days_left") is not None]
    backups = [f"{s['name']} {s['backup_age_hours']:.1f} h" for s in services if s.get("backup_age_hours") is not None]
    if certs:
        console.print("certificates expire in: " + ", ".join(certs))
    if backups:
        console.print("newest backups are: " + ", ".join(backups) + " old")


def _render_generic(hub: str, result: dict[str, Any]) -> None:
    """Scalars as one table, each list of records as a table of its own."""
    scalars = [[k, v] for k, v in result.items() if not isinstance(v, list | dict)]
    console.print(table(hub, ["", "value"], scalars))
    for key, value in result.items():
        if isinstance(value, dict):
            console.print(table(key, ["", "value"], [[k, v] for k, v in value.items()]))
        elif isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
            columns = list(dict.fromkeys(c for row in value for c in row))
            console.print(table(key, columns, [[row.get(c) for c in columns] for row in value]))
        elif isinstance(value, list):
            console.print(f"[bold]{key}[/]: {', '.join(map(str, value)) or '—'}", highlight=False)
