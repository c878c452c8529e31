"""`vsmesh summary HUB`: the hub's domain summary, asked over its contract (or read from a point-in-time copy)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from vsmesh.cli.context import run, settings_from
from vsmesh.cli.options import DataDir, HubArg, Json
from vsmesh.cli.output import console, echo_json, table
from vsmesh.errors import ConfigError
from vsmesh.settings import Settings

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
    result = run(_point_in_time(settings, hub, as_of, page) if as_of else _ask(settings, hub, page))
    if as_json:
        echo_json(result)
    elif "services" in result and "by_status" in result:
        _render_ops(result, offset or 0)
    else:
        _render_generic(hub, result)


async def _ask(settings: Settings, hub: str, page: dict[str, int]) -> dict[str, Any]:
    from vsmesh.bus.connection import connect
    from vsmesh.bus.contract_client import ask

    nc = await connect(settings, name="vsmesh-summary")
    try:
        return await ask(nc, hub, "get_domain_summary", page)
    finally:
        await nc.drain()


async def _point_in_time(settings: Settings, hub: str, as_of: str, page: dict[str, int]) -> dict[str, Any]:
    """A copy built by `vsmesh rebuild --into` has no service answering for it: read its schema directly."""
    from vsmesh.hubs import hub as hub_package
    from vsmesh.projectors.engine.batches import ensure_schema, in_schema
    from vsmesh.projectors.engine.database import check_database, create_engine
    from vsmesh.projectors.rebuild.copies import point_in_time_schema

    package = hub_package(hub)
    reader = getattr(package.contract, "domain_summary", None)
    if reader is None or hub == "fin-hub":  # fin's summary needs a clock and a threshold, not only a schema
        raise ConfigError(f"point-in-time summaries of {hub} are not supported yet; ask its tables instead")
    if page and hub != "ops-hub":
        raise ConfigError(f"--limit and --offset page ops-hub's services; {hub}'s summary has no pages")
    projection = package.projection()
    engine = create_engine(settings)
    try:
        await check_database(engine, settings.database_url or "")
        schema = await point_in_time_schema(engine, hub, as_of)
        await ensure_schema(engine, projection, schema)
        async with engine.connect() as conn:
            return await reader(await in_schema(conn, schema), **page)
    finally:
        await engine.dispose()


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
