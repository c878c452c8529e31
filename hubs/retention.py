"""Changing how long a stream keeps its events — governance: a signed-in person's `vsmesh streams retention` has
the gateway do it as that person (gateway/governance.py). Refused, naming the hubs, while a hub's rebuild would
need events the change deletes and no snapshot covers (projectors/rebuild/retention_guard.py); `take` snapshots
those hubs first. Who changed it is kept on the stream (its metadata) and in the mesh's log.
"""

from __future__ import annotations

from typing import Any

from nats.aio.client import Client
from nats.js.errors import NotFoundError
from sqlalchemy.ext.asyncio import AsyncEngine

from vsmesh.bus.chain import CHAINED_STREAM
from vsmesh.durations import format_duration, parse_duration
from vsmesh.errors import ConfigError, RetentionRefused
from vsmesh.hubs.projections import all_projections
from vsmesh.projectors.engine.batches import ensure_schema
from vsmesh.projectors.engine.database import check_database
from vsmesh.projectors.rebuild.retention_guard import RetentionCheck, check_retention, set_retention
from vsmesh.projectors.rebuild.snapshot import take_snapshot
from vsmesh.settings import Settings

FOREVER = ("forever", "0")


def retention_seconds(text: str) -> float:
    """A stream's max age in seconds (0: forever) from `30s`, `12h`, `90d` or `forever`; ValueError naming how."""
    if text.strip().lower() in FOREVER:
        return 0.0
    try:
        seconds = parse_duration(text)
    except ValueError as e:
        raise ValueError(f"{e} (or `forever`)") from None
    if seconds < 1:
        raise ValueError(f"{text!r}: a stream keeps its events at least 1s")
    return seconds


async def change_retention(
    nc: Client, engine: AsyncEngine, settings: Settings, stream: str, max_age: float, text: str, take: bool, by: str
) -> dict[str, Any]:
    """Set `stream`'s max age (0: forever) unless a hub would lose what its rebuild needs; what it meant, as
    `vsmesh streams retention --json` prints it (with `summary`, the line a person reads)."""
    if stream == CHAINED_STREAM and max_age:
        raise ConfigError(f"{stream} keeps its events forever: its hash chain (`vsmesh verify`) needs every link")
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
    rolled: int | None = None
    if stream == "OPERATIONAL" and max_age:  # ops-hub's closed days reach TACTICAL before they can age out
        from vsmesh.hubs.ops.rollup import roll_up, rollup_publisher

        rolled = len(await roll_up(js, rollup_publisher(js, settings)))
    await set_retention(js, stream, max_age, text, by=by)
    summary = _sentence(check, taken) + (f"; {rolled} closed days rolled up to TACTICAL first" if rolled else "")
    warning = cadence_warning(settings, check.stream, max_age)
    return {**_as_dict(check, taken, warning), "rollups_published": rolled, "set_by": by, "summary": summary}


def cadence_warning(settings: Settings, stream: str, max_age: float) -> str | None:
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
        "cutoff": check.cutoff.isoformat() if check.cutoff else None,
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
        f"{check.stream} retention set to {format_duration(check.max_age_s)}: {lost} hub events stored before "
        f"{check.cutoff:%Y-%m-%dT%H:%M:%SZ} age out (the stream starts at sequence {check.first_kept}){rebuilds}{taken}"
    )
