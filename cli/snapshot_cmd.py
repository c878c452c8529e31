"""`vsmesh snapshot HUB`: store the hub's tables and positions in the JetStream object store, beside the log,
so a rebuild still works after retention ages out the start of a stream. `--list` shows what is stored."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from vsmesh.cli.context import run, settings_from
from vsmesh.cli.options import DataDir, Json
from vsmesh.cli.output import console, echo_json, table
from vsmesh.settings import Settings

if TYPE_CHECKING:
    from vsmesh.projectors.rebuild.snapshot_store import SnapshotInfo


def snapshot(
    hub: str = typer.Argument(None, help="hub slug, e.g. ops-hub (optional with --list)"),
    list_only: bool = typer.Option(False, "--list", help="list stored snapshots (of HUB, or of every hub)"),
    keep: int = typer.Option(None, "--keep", min=1, help="snapshots to keep per hub [env VSMESH_SNAPSHOT_KEEP]"),
    data_dir: Path | None = DataDir,
    as_json: bool = Json,
) -> None:
    """Snapshot a hub's read model into the `vsmesh-snapshots` object store (or list the snapshots)."""
    settings = settings_from(data_dir)
    if list_only:
        _show(run(_list(settings, hub)), as_json)
        return
    if not hub:
        raise typer.BadParameter("give the HUB to snapshot (or --list)", param_hint="HUB")
    info = run(_take(settings, hub, keep or settings.snapshot_keep))
    if as_json:
        echo_json(_row(info))
    else:
        at = ", ".join(f"{s}:{p}" for s, p in sorted(info.positions.items())) or "the start"
        print(f"{info.hub} snapshot {info.name} stored: {info.rows} rows as of {at}")


async def _take(settings: Settings, hub: str, keep: int) -> SnapshotInfo:
    from vsmesh.bus.connection import connect
    from vsmesh.hubs.projections import projection_of
    from vsmesh.projectors.engine.batches import ensure_schema
    from vsmesh.projectors.engine.database import check_database, create_engine
    from vsmesh.projectors.rebuild.snapshot import take_snapshot

    nc = await connect(settings, name="vsmesh-snapshot")
    engine = create_engine(settings)
    try:
        await check_database(engine, settings.database_url or "")
        projection = await projection_of(engine, hub)
        await ensure_schema(engine, projection, projection.schema)
        return await take_snapshot(nc.jetstream(), engine, projection, keep=keep)
    finally:
        await engine.dispose()
        await nc.drain()


async def _list(settings: Settings, hub: str | None) -> list[SnapshotInfo]:
    from vsmesh.bus.connection import connect
    from vsmesh.projectors.rebuild.snapshot_store import list_snapshots

    nc = await connect(settings, name="vsmesh-snapshot")
    try:
        return await list_snapshots(nc.jetstream(), hub)
    finally:
        await nc.drain()


def _row(info: SnapshotInfo) -> dict[str, Any]:
    return {
        "hub": info.hub,
        "name": info.name,
        "created": info.created,
        "positions": info.positions,
        "rows": info.rows,
        "tables": info.tables,
    }


def _show(snapshots: list[SnapshotInfo], as_json: bool) -> None:
    if as_json:
        echo_json([_row(i) for i in snapshots])
        return
    cells = [
        [i.name, i.hub, i.created, ", ".join(f"{s}:{p}" for s, p in sorted(i.positions.items())), i.rows]
        for i in snapshots
    ]
    console.print(table("snapshots (newest first)", ["name", "hub", "created", "positions", "rows"], cells))
