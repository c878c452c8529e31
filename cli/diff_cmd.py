"""`vsmesh diff HUB --as-of A --as-of B`: what changed in a hub's read model between two point-in-time copies
(or a copy and the live hub); also how `vsmesh rebuild --diff` shows its new schema before the swap."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from vsmesh.cli.context import run, settings_from
from vsmesh.cli.options import DataDir, Json
from vsmesh.cli.output import console, echo_json, table
from vsmesh.settings import Settings

if TYPE_CHECKING:
    from vsmesh.projectors.rebuild.diff import SchemaDiff

LIVE = "live"  # names the live hub among --as-of values


def diff_cmd(
    hub: str = typer.Argument(..., help="hub slug, e.g. ops-hub"),
    as_of: list[str] = typer.Option(
        ...,
        "--as-of",
        help="two point-in-time copies (`vsmesh rebuild --list`), older first, `live` for the hub now; or one "
        "copy, against the live hub (a what-if copy shows what leaving its events out changes)",
    ),
    data_dir: Path | None = DataDir,
    as_json: bool = Json,
) -> None:
    """Rows added, removed and changed per table between two moments of a hub (samples with keys and columns)."""
    if len(as_of) not in (1, 2) or as_of == [LIVE]:
        raise typer.BadParameter(
            "give --as-of twice (the older copy, then the newer or `live`), or once naming a copy to compare it "
            "with the live hub",
            param_hint="--as-of",
        )
    settings = settings_from(data_dir)
    show_diff(run(_diff(settings, hub, as_of[0], as_of[1] if len(as_of) == 2 else None)), as_json)


async def _diff(settings: Settings, hub: str, older: str, newer: str | None) -> SchemaDiff:
    """`newer` None: the copy `older` against the live hub — from the copy to live for a copy of the past, from
    live to the copy for a what-if copy (so what the left-out events did shows as removed or changed)."""
    from vsmesh.errors import NotFound
    from vsmesh.hubs.projections import projection_of
    from vsmesh.projectors.engine.database import check_database, create_engine
    from vsmesh.projectors.rebuild.copies import pit_schema, read_build_info, schema_exists
    from vsmesh.projectors.rebuild.diff import diff_schemas

    engine = create_engine(settings)
    try:
        await check_database(engine, settings.database_url or "")
        projection = await projection_of(engine, hub)
        if newer is None:
            async with engine.connect() as conn:
                info = await read_build_info(conn, pit_schema(older))
            older, newer = (LIVE, older) if info is not None and info.without else (older, LIVE)
        schemas = [projection.schema if name == LIVE else pit_schema(name) for name in (older, newer)]
        async with engine.connect() as conn:
            for name, schema in zip((older, newer), schemas, strict=True):
                if not await schema_exists(conn, schema):
                    raise NotFound(f"no point-in-time copy named {name!r}; `vsmesh rebuild --list` shows them")
        return await diff_schemas(engine, projection, *schemas)
    finally:
        await engine.dispose()


def show_diff(diff: SchemaDiff, as_json: bool) -> None:
    """A table of counts per table, then the samples; or the whole diff as JSON."""
    if as_json:
        echo_json(diff.as_dict())
        return
    if diff.identical:
        console.print(f"{diff.hub}: {diff.new} is identical to {diff.old}", highlight=False)
        return
    rows = [[t.table, t.added, t.removed, t.changed] for t in diff.tables if not t.identical]
    console.print(table(f"{diff.hub}: {diff.new} against {diff.old}", ["table", "added", "removed", "changed"], rows))
    for t in diff.tables:
        for kind, samples in t.samples.items():
            for sample in samples:
                console.print(f"  {t.table} {kind}: {json.dumps(sample, default=str)[:300]}", highlight=False)
