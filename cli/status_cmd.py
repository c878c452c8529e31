"""`vsmesh status`: every stream, and every hub's projector (position, head, lag, rate, last error, snapshot);
what it prints is cli/status_tables.py's."""

from __future__ import annotations

import datetime as dt
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING, Any

from vsmesh.cli.context import run, settings_from
from vsmesh.cli.options import DataDir, Json, Wide
from vsmesh.cli.output import echo_json
from vsmesh.settings import Settings

if TYPE_CHECKING:
    from nats.js import JetStreamContext

    from vsmesh.projectors.engine.projection import Projection
    from vsmesh.projectors.status import ProjectorReport


def status(data_dir: Path | None = DataDir, as_json: bool = Json, wide: bool = Wide) -> None:
    """Streams, one line per hub (worst lag, quarantined, reverts, where it runs), per coupling and per timed
    check; --wide: every projector's position, head, lag, events/s, errors and snapshot per stream."""
    from vsmesh.cli.couplings_cmd import coupling_rows
    from vsmesh.cli.status_tables import show_status

    settings = settings_from(data_dir)
    result = run(_status(settings))
    result["couplings"] = run(coupling_rows(settings))
    for c in result["couplings"]:
        c["quarantined"] = result["quarantined_by"].get(f"coupling:{c['name']}", 0)
    if as_json:
        echo_json(result)
        return
    show_status(result, wide=wide)


async def _status(settings: Settings) -> dict[str, Any]:
    from vsmesh.bus.connection import connect
    from vsmesh.bus.quarantine_store import list_quarantined
    from vsmesh.bus.streams import STREAMS
    from vsmesh.hubs.canon.scheduled import read_statuses
    from vsmesh.hubs.projections import all_projections
    from vsmesh.projectors.engine.database import check_database, create_engine
    from vsmesh.projectors.rebuild.copies import list_builds
    from vsmesh.projectors.rebuild.snapshot_store import list_snapshots
    from vsmesh.projectors.status import read_reports
    from vsmesh.sources.gitops.status import every_status

    nc = await connect(settings, name="vsmesh-status")
    engine = create_engine(settings)
    try:
        js = nc.jetstream()
        await check_database(engine, settings.database_url or "")
        streams = [await _stream(js, name) for name in STREAMS]
        heads = {s["stream"]: s["last_seq"] for s in streams}
        reports = await read_reports(js)
        # What each projector and coupling set aside (the one event source quarantines for both).
        quarantined = Counter((q.found_by, q.origin_stream) for q in await list_quarantined(js))
        snapshots = {}
        for info in reversed(await list_snapshots(js)):  # oldest first, so the newest per hub wins
            snapshots[info.hub] = info.name
        projectors = []
        for projection in await all_projections(engine, to_fold=False):  # coded, the registry, manifest hubs
            rows = []
            # A partitioned hub: its own rows (its slowest partition), then one row per partition and stream.
            parts = await _partitions(engine, projection)
            for each in [projection, *parts]:
                name = f"{each.hub} {each.partition.label}" if each.partition else each.hub
                rows += await _projector(js, engine, each, heads, reports.get(name), snapshots)
            for row in rows[: len(projection.streams)] if parts else ():
                row["running"] = f"{len(parts)} partitions"
            for row in rows:
                row["quarantined"] = quarantined[(projection.hub, row["stream"])]
            projectors += rows
        copies = [
            {"name": b.name, "hub": b.hub, "until": b.until.describe(), "built": b.finished_at}
            for b in await list_builds(engine)
            if b.kind == "point-in-time" and b.finished_at
        ]
        by_finder = Counter()
        for (found_by, _), n in quarantined.items():
            by_finder[found_by] += n
        from vsmesh.notify.queries import notifier_status

        return {
            "streams": streams,
            "projectors": projectors,
            "notifier": await notifier_status(js, engine),
            "checks": [_check(c) for c in await read_statuses(js)],
            "gitops": [_synced(s) for s in await every_status(js)],
            "point_in_time": copies,
            "quarantined_by": dict(by_finder),
        }
    finally:
        await engine.dispose()
        await nc.drain()


def _check(status: Any) -> dict[str, Any]:
    """A timed check's last run (hubs/canon/scheduled.py), its time in UTC."""
    import msgspec

    row = msgspec.to_builtins(status)
    row["ran_at"] = dt.datetime.fromtimestamp(status.ran_at, dt.UTC).isoformat(timespec="seconds")
    return row


def _synced(status: Any) -> dict[str, Any]:
    """A repository's last sync (sources/gitops/status.py), its times in UTC."""
    import msgspec

    row = msgspec.to_builtins(status)
    for key in ("synced_at", "refused_at"):
        if row[key] is not None:
            row[key] = dt.datetime.fromtimestamp(row[key], dt.UTC).isoformat(timespec="seconds")
    return row


async def _partitions(engine: Any, projection: Projection) -> list[Projection]:
    """The hub's partitions, as its position rows show them (none: one projector)."""
    from vsmesh.projectors.engine.batches import ensure_schema, in_schema
    from vsmesh.projectors.engine.checkpoint import read_positions
    from vsmesh.projectors.engine.partitions import Partition, partitioning_of

    if not projection.entity_types:
        return []
    await ensure_schema(engine, projection, projection.schema)
    async with engine.connect() as conn:
        rows = await read_positions(await in_schema(conn, projection.schema), projection.positions)
    return [projection.for_partition(Partition(k, n)) for n in sorted(partitioning_of(rows)) for k in range(n)]


async def _stream(js: JetStreamContext, name: str) -> dict[str, Any]:
    from vsmesh.bus.streams import STREAMS

    info = await js.stream_info(name)
    spec = STREAMS[name]
    return {
        "stream": name,
        "messages": info.state.messages,
        "bytes": info.state.bytes,
        "first_seq": info.state.first_seq,
        "last_seq": info.state.last_seq,
        "retention": f"{spec.max_age_s / 86400:.0f} days" if spec.max_age_s else "forever",
    }


async def _projector(
    js: JetStreamContext,
    engine: Any,
    projection: Projection,
    heads: dict[str, int],
    report: ProjectorReport | None,
    snapshots: dict[str, str],
) -> list[dict[str, Any]]:
    """One row per stream of the hub: the database's position, the stream's head, and what the process reports."""
    from vsmesh.bus.reader import count_pending
    from vsmesh.projectors.engine.batches import ensure_schema, positions
    from vsmesh.projectors.reverts.scoped import revert_mode

    await ensure_schema(engine, projection, projection.schema)
    at = await positions(engine, projection, projection.schema)
    rows = []
    for stream, subject in projection.streams.items():
        position = at.get(stream, 0)
        rows.append(
            {
                "hub": f"{projection.hub} {projection.partition.label}" if projection.partition else projection.hub,
                "stream": stream,
                "position": position,
                "head": heads.get(stream, 0),
                "lag": await count_pending(js, stream, subject, position),
                "events_per_s": report.events_per_s if report else None,
                "running": f"{report.host} pid {report.pid}" if report else None,
                "last_error": report.last_error if report else None,
                "last_snapshot": snapshots.get(projection.hub),
                "reverts": revert_mode(projection),  # "entities", or "whole hub": it re-folds its whole log
                "reported_at": report.updated.astimezone(dt.UTC) if report else None,
            }
        )
    return rows
