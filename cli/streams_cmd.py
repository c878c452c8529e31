"""`vsmesh streams retention STREAM DURATION [--snapshot]`: change how long a stream keeps its events, refused
in one line when a hub's rebuild would need events the change deletes and no snapshot covers them."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from vsmesh.cli.context import run, settings_from
from vsmesh.cli.options import DataDir, Json
from vsmesh.cli.output import duration, echo_json
from vsmesh.errors import ConfigError
from vsmesh.settings import Settings

if TYPE_CHECKING:
    from vsmesh.projectors.rebuild.retention_guard import RetentionCheck

streams_app = typer.Typer(help="The horizon streams: how long each keeps its events.", no_args_is_help=True)

FOREVER = ("forever", "0")


@streams_app.command("retention")
def retention(
    stream: str = typer.Argument(..., help="stream name, e.g. OPERATIONAL"),
    duration: str = typer.Argument(..., help="new max age: 30s, 12h, 90d … or `forever`"),
    snapshot: bool = typer.Option(
        False, "--snapshot", help="snapshot every hub whose rebuild would need it first, then apply"
    ),
    data_dir: Path | None = DataDir,
    as_json: bool = Json,
) -> None:
    """Set a stream's retention, unless a hub would lose events its rebuild needs that no snapshot covers."""
    max_age = _seconds(duration)
    if stream.upper() == "CONSTITUTIONAL" and max_age:
        raise typer.BadParameter(
            "CONSTITUTIONAL keeps its events forever: its hash chain (`vsmesh verify`) needs every link",
            param_hint="STREAM",
        )
    settings = settings_from(data_dir)
    check, snapshots, rolled = run(_retention(settings, stream.upper(), max_age, duration, snapshot))
    warning = _cadence_warning(settings, check.stream, max_age)
    if as_json:
        echo_json({**_as_dict(check, snapshots, warning), "rollups_published": rolled})
        return
    print(_sentence(check, snapshots) + (f"; {rolled} closed days rolled up to TACTICAL first" if rolled else ""))
    if warning:
        typer.echo(f"warning: {warning}", err=True)


def _seconds(text: str) -> float:
    from vsmesh.durations import parse_duration

    if text.strip().lower() in FOREVER:
        return 0.0
    try:
        seconds = parse_duration(text)
    except ValueError as e:
        raise typer.BadParameter(f"{e} (or `forever`)", param_hint="DURATION") from None
    if seconds < 1:
        raise typer.BadParameter(f"{text!r}: a stream keeps its events at least 1s", param_hint="DURATION")
    return seconds


async def _retention(
    settings: Settings, stream: str, max_age: float, text: str, take: bool
) -> tuple[RetentionCheck, dict[str, str], int | None]:
    from nats.js.errors import NotFoundError

    from vsmesh.bus.connection import connect
    from vsmesh.errors import RetentionRefused
    from vsmesh.hubs.projections import all_projections
    from vsmesh.projectors.engine.batches import ensure_schema
    from vsmesh.projectors.engine.database import check_database, create_engine
    from vsmesh.projectors.rebuild.retention_guard import check_retention, set_retention
    from vsmesh.projectors.rebuild.snapshot import take_snapshot

    nc = await connect(settings, name="vsmesh-streams")
    engine = create_engine(settings)
    try:
        js = nc.jetstream()
        try:
            await js.stream_info(stream)
        except NotFoundError:
            names = sorted([s.config.name for s in await js.streams_info()])
            raise ConfigError(f"no stream {stream}; the streams are {', '.join(names)}") from None
        await check_database(engine, settings.database_url or "")
        # Streams and tables only: nothing is folded, so no manifest's types are learned into this process.
        projections = await all_projections(engine, to_fold=False)
        check = await check_retention(js, projections, stream, max_age)
        taken: dict[str, str] = {}
        if check.refused and take:
            by_hub = {p.hub: p for p in projections}
            for hub in check.refused:
                projection = by_hub[hub.hub]
                await ensure_schema(engine, projection, projection.schema)
                info = await take_snapshot(js, engine, projection, keep=settings.snapshot_keep)
                taken[hub.hub] = info.name
            check = await check_retention(js, projections, stream, max_age)
        if check.refused:
            behind = " (snapshots were taken, but those hubs have not applied all their events: is the mesh up?)"
            raise RetentionRefused(check.refusal() + (behind if taken else ""))
        if stream == "OPERATIONAL" and max_age:  # ops-hub's closed days reach TACTICAL before they can age out
            from vsmesh.hubs.ops.rollup import roll_up, rollup_publisher

            rolled: int | None = len(await roll_up(js, rollup_publisher(js, settings)))
        else:
            rolled = None
        await set_retention(js, stream, max_age, text)
        return check, taken, rolled
    finally:
        await engine.dispose()
        await nc.drain()


def _cadence_warning(settings: Settings, stream: str, max_age: float) -> str | None:
    """Events keep ageing out after the change: snapshots must come more often than the stream forgets."""
    every = settings.snapshot_every_minutes * 60
    if not max_age or (every and every < max_age):
        return None
    now = f"every {settings.snapshot_every_minutes:g} min" if every else "never (VSMESH_SNAPSHOT_EVERY_MINUTES=0)"
    return (
        f"{stream} now forgets events after {max_age:g}s but `vsmesh up` snapshots hubs {now}: a rebuild may "
        "stop at the gap; set VSMESH_SNAPSHOT_EVERY_MINUTES below the retention"
    )


def _as_dict(check: RetentionCheck, snapshots: dict[str, str], warning: str | None) -> dict[str, Any]:
    return {
        "stream": check.stream,
        "max_age_s": check.max_age_s,
        "cutoff": check.cutoff,
        "first_kept": check.first_kept,
        "snapshots_taken": snapshots,
        "hubs": [
            {"hub": h.hub, "lost": h.lost, "rebuilds_from": h.covered_by or ("log" if not h.needs_snapshot else None)}
            for h in check.hubs
            if h.lost or h.needs_snapshot
        ],
        "warning": warning,
    }


def _sentence(check: RetentionCheck, snapshots: dict[str, str]) -> str:
    if not check.max_age_s:
        return f"{check.stream} now keeps its events forever"
    lost = sum(h.lost for h in check.hubs)
    taken = f"; snapshots taken first: {', '.join(sorted(snapshots))}" if snapshots else ""
    covered = sorted(h.hub for h in check.hubs if h.covered_by)
    rebuilds = f"; {len(covered)} hubs rebuild from a snapshot" if covered else ""
    return (
        f"{check.stream} retention set to {duration(check.max_age_s)}: {lost} hub events stored before "
        f"{check.cutoff:%Y-%m-%dT%H:%M:%SZ} age out (the stream starts at sequence {check.first_kept}){rebuilds}{taken}"
    )
