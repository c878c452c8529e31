"""`vsmesh summary HUB`: the hub's domain summary from its read model."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from vsmesh.cli.context import run, settings_from
from vsmesh.cli.options import DataDir, HubArg, Json
from vsmesh.cli.output import console, echo_json, table
from vsmesh.hubs import hub as hub_package
from vsmesh.projectors.builds import point_in_time_schema
from vsmesh.projectors.database import check_database, create_engine
from vsmesh.projectors.engine import ensure_schema, in_schema
from vsmesh.settings import Settings

_COLOURS = {"green": "green", "amber": "yellow", "red": "red"}


def summary(
    hub: str = HubArg,
    as_of: str = typer.Option(None, "--as-of", help="read point-in-time copy NAME (`vsmesh rebuild --into NAME`)"),
    data_dir: Path | None = DataDir,
    as_json: bool = Json,
) -> None:
    """Services by health, open alerts and the latest events of a hub."""
    settings = settings_from(data_dir)
    result = run(_summary(settings, hub, as_of))
    if as_json:
        echo_json(result)
    else:
        _render(result)


async def _summary(settings: Settings, hub: str, as_of: str | None = None) -> dict[str, Any]:
    package = hub_package(hub)
    projection = package.projection()
    engine = create_engine(settings)
    try:
        await check_database(engine, settings.database_url or "")
        schema = await point_in_time_schema(engine, hub, as_of) if as_of else projection.schema
        # A hub that has seen nothing yet answers empty rather than with a missing-table error.
        await ensure_schema(engine, projection, schema)
        async with engine.connect() as conn:
            return await package.contract.domain_summary(await in_schema(conn, schema))
    finally:
        await engine.dispose()


def _render(result: dict[str, Any]) -> None:
    counts = ", ".join(f"{n} {s}" for s, n in sorted(result["by_status"].items())) or "no services yet"
    console.print(f"[bold]{result['hub']}[/]: {counts}; {result['open_alerts']} open alerts")
    rows = [
        [
            s["name"],
            f"[{_COLOURS.get(s['status'] or '', 'dim')}]{s['status'] or 'unknown'}[/]",
            s["environment"],
            s["owner"],
            s["checked_at"],
        ]
        for s in result["services"]
    ]
    console.print(table("services", ["service", "health", "environment", "owner", "checked"], rows))
    events = [[e["time"], e["type"], e["entity"], e["actor"], e["summary"]] for e in result["recent_events"]]
    console.print(table("recent events", ["time", "type", "entity", "actor", "summary"], events))
