"""`vsmesh rebuild HUB`: replay the log into a fresh schema and swap it in."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import structlog
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from vsmesh.bus.connection import connect
from vsmesh.cli.context import run, settings_from
from vsmesh.cli.options import DataDir, HubArg, Json
from vsmesh.cli.output import echo_json
from vsmesh.hubs import hub as hub_package
from vsmesh.projectors.database import check_database, create_engine
from vsmesh.projectors.rebuild import RebuildResult, rebuild
from vsmesh.settings import Settings

log = structlog.get_logger(__name__)


def rebuild_cmd(hub: str = HubArg, data_dir: Path | None = DataDir, as_json: bool = Json) -> None:
    """Rebuild a hub from the log while it keeps answering; a progress bar on a terminal."""
    settings = settings_from(data_dir)
    result = run(_rebuild(settings, hub, interactive=sys.stderr.isatty() and not as_json))
    if as_json:
        echo_json(
            {
                "hub": result.hub,
                "events": result.events,
                "seconds": round(result.seconds, 3),
                "events_per_s": round(result.rate),
                "positions": result.positions,
            }
        )
    else:
        print(f"{result.hub} rebuilt from {result.events} events in {result.seconds:.2f} s ({result.rate:,.0f} ev/s)")


async def _rebuild(settings: Settings, hub: str, *, interactive: bool) -> RebuildResult:
    projection = hub_package(hub).projection()
    nc = await connect(settings, name="vsmesh-rebuild")
    engine = create_engine(settings)
    try:
        await check_database(engine, settings.database_url or "")
        if interactive:
            with Progress(
                TextColumn(f"rebuilding {hub}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn()
            ) as bar:
                task = bar.add_task(hub, total=None)
                return await rebuild(
                    nc.jetstream(),
                    engine,
                    projection,
                    batch_size=settings.batch_size * 2,
                    progress=lambda done, total: bar.update(task, completed=done, total=total),
                )
        return await rebuild(
            nc.jetstream(), engine, projection, batch_size=settings.batch_size * 2, progress=_log_progress(hub)
        )
    finally:
        await engine.dispose()
        await nc.drain()


def _log_progress(hub: str):
    last = [0.0]

    def report(done: int, total: int) -> None:
        now = time.monotonic()
        if now - last[0] >= 2 or done == total:
            log.info("rebuild progress", hub=hub, events=done, total=total)
            last[0] = now

    return report
