"""`vsmesh couplings` (what reacts to what, where each reactor is) and `vsmesh trace EVENT_ID`."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from vsmesh.cli.context import run, settings_from
from vsmesh.cli.options import DataDir, Json, Wide
from vsmesh.cli.output import _cell, console, echo_json, last_errors, show, table
from vsmesh.settings import Settings

if TYPE_CHECKING:
    from rich.tree import Tree


def couplings(data_dir: Path | None = DataDir, as_json: bool = Json, wide: bool = Wide) -> None:
    """Every coupling: from → to, lag, events emitted and its last error (--wide: enabled and positions too)."""
    settings = settings_from(data_dir)
    rows = run(coupling_rows(settings))
    if as_json:
        echo_json(rows)
        return
    if not wide:  # hubs without their "-hub" and errors under the table: 80 columns hold the longest name
        cells = [[r["name"], f"{_short(r['from'])} → {_short(r['to'])}", "off" if not r["enabled"] else
                  "-" if r["lag"] is None else r["lag"], r["emitted"]] for r in rows]  # fmt: skip
        show(table("couplings", ["coupling", "from → to", "lag", "emitted"], cells, whole=["coupling"]))
        last_errors((r["name"], r["last_error"]) for r in rows)
        return
    cells = [
        [
            r["name"],
            f"{r['from']} → {r['to']}",
            "yes" if r["enabled"] else "[dim]no[/]",
            ",".join(f"{k}:{v}" for k, v in r["positions"].items()) or "-",
            "-" if r["lag"] is None else r["lag"],
            r["emitted"],
            r["last_error"] or "",
        ]
        for r in rows
    ]
    columns = ["coupling", "from → to", "enabled", "position", "lag", "emitted", "last error"]
    show(table("couplings", columns, cells, whole=["coupling"]), wide=True)


def _short(hub: str) -> str:
    return hub.removesuffix("-hub")


async def coupling_rows(settings: Settings) -> list[dict[str, Any]]:
    """Every coupling with its position, lag, emitted count and last error (the static list with no mesh)."""
    import sqlalchemy as sa

    from vsmesh.bus.connection import connect
    from vsmesh.hubs.coupling import all_couplings
    from vsmesh.projectors.couplings.coupling import enabled
    from vsmesh.projectors.couplings.reactor import ensure_tables, lag, positions
    from vsmesh.projectors.engine.database import create_engine

    disabled = set(settings.couplings_disabled)
    found = all_couplings()
    enabled(found, disabled)  # a misspelt name fails here as it would fail `vsmesh up`, naming the known ones
    rows = [
        {
            "name": c.name,
            "from": c.source_hub,
            "to": c.target_hub,
            "enabled": c.name not in disabled,
            "description": c.description,
            "positions": {},
            "lag": None,
            "emitted": 0,
            "last_error": None,
        }
        for c in found
    ]
    if not settings.database_url:
        return rows  # no mesh to ask: the static list is the whole answer
    engine = create_engine(settings)
    nc = await connect(settings, name="vsmesh-couplings")
    try:
        await ensure_tables(engine)
        async with engine.connect() as conn:
            stored = (await conn.execute(sa.select(positions))).mappings().all()
        for row, coupling in zip(rows, found, strict=True):
            mine = [p for p in stored if p["coupling"] == coupling.name]
            row["positions"] = {p["stream"]: p["seq"] for p in mine}
            row["emitted"] = sum(p["emitted"] for p in mine)
            row["last_error"] = next((p["last_error"] for p in mine if p["last_error"]), None)
            row["lag"] = await lag(nc.jetstream(), coupling, row["positions"])
        return rows
    finally:
        await engine.dispose()
        await nc.drain()


def trace(
    event_id: str = typer.Argument(..., help="any event of the chain: its root or one a coupling emitted"),
    data_dir: Path | None = DataDir,
    as_json: bool = Json,
) -> None:
    """The whole causation tree across hubs (time, horizon, hub, type, entity), root first."""
    from rich.tree import Tree

    settings = settings_from(data_dir)
    answer = run(_trace(settings, event_id))
    if as_json:
        echo_json(answer)
        return
    tree = Tree(f"[bold]trace[/] of {event_id} (correlation {', '.join(answer['correlation_ids'])})")
    for root in answer["roots"]:
        _branch(tree, root, event_id)
    console.print(tree)


async def _trace(settings: Settings, event_id: str) -> dict[str, Any]:
    from vsmesh.hubs.trace import trace as find
    from vsmesh.projectors.engine.database import create_engine

    engine = create_engine(settings)
    try:
        return await find(engine, event_id)
    finally:
        await engine.dispose()


def _branch(parent: Tree, node: dict[str, Any], wanted: str) -> None:
    via = f" [dim]via {node['coupling']}[/]" if node["coupling"] else ""
    mark = "[bold yellow]▶ [/]" if node["id"] == wanted else ""
    label = (
        f"{mark}{_cell(node['time'])}  {node['horizon']:<14} {node['hub']:<10} [bold]{node['type']}[/]"
        f"  {node['entity'] or '-'}  [dim]{node['id']}[/]{via}"
    )
    branch = parent.add(label)
    for child in node["children"]:
        _branch(branch, child, wanted)
