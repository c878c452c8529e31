"""Where a rebuild can start when retention has aged out the head of a stream: the log, a snapshot, or nowhere."""

from __future__ import annotations

from dataclasses import dataclass

import structlog
from nats.js import JetStreamContext

from vsmesh.bus.streams import stream_info
from vsmesh.errors import HistoryAgedOut
from vsmesh.projectors.engine.pipeline import Until
from vsmesh.projectors.engine.projection import Projection
from vsmesh.projectors.rebuild.snapshot_store import SnapshotInfo, list_snapshots

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class Gap:
    """Messages a replay from `position` would need that the stream no longer holds."""

    stream: str
    position: int
    first_seq: int


async def first_sequences(js: JetStreamContext, projection: Projection) -> dict[str, int]:
    """Each stream's first stored sequence (for an emptied stream, one past its last)."""
    firsts = {}
    for stream in projection.streams:
        state = (await stream_info(js, stream)).state
        firsts[stream] = state.first_seq if state.messages else state.last_seq + 1
    return firsts


def gaps(firsts: dict[str, int], start: dict[str, int]) -> list[Gap]:
    """Streams where sequences between `start` and the first stored one may have held the hub's events."""
    return [Gap(s, start.get(s, 0), first) for s, first in firsts.items() if first > start.get(s, 0) + 1]


def usable(snapshot: SnapshotInfo, firsts: dict[str, int], until: Until) -> bool:
    """A snapshot can start a replay if the log still holds what follows it, and it is not past `until`."""
    for stream, first in firsts.items():
        position = snapshot.positions.get(stream, 0)
        if snapshot.covered(stream) + 1 < first:
            return False
        last = until.last_seq(stream)
        if last is not None and position > last:
            return False
        stamp = snapshot.stamps.get(stream, snapshot.created)
        if until.time is not None and position and stamp > until.time:
            return False
    return True


async def plan_start(
    js: JetStreamContext, projection: Projection, until: Until, *, allow_gap: bool
) -> tuple[dict[str, int], SnapshotInfo | None]:
    """The positions a fresh build starts from, and the snapshot to load first (None: the log from the start)."""
    firsts = await first_sequences(js, projection)
    missing = gaps(firsts, {})
    if not missing:
        return {}, None
    for snapshot in await list_snapshots(js, projection.hub):
        if usable(snapshot, firsts, until):
            log.info(
                "starting from a snapshot: the log no longer holds the start",
                hub=projection.hub,
                snapshot=snapshot.name,
                positions=snapshot.positions,
                first_available={g.stream: g.first_seq for g in missing},
            )
            return dict(snapshot.positions), snapshot
    gap = missing[0]
    if allow_gap:
        log.warning(
            "building without the aged-out events (--allow-gap)",
            hub=projection.hub,
            stream=gap.stream,
            first_available=gap.first_seq,
        )
        return {}, None
    raise HistoryAgedOut(
        f"cannot rebuild {projection.hub}: stream {gap.stream} now starts at sequence {gap.first_seq} "
        f"(retention aged out 1–{gap.first_seq - 1}) and no snapshot covers them; "
        f"take one from the live hub with `vsmesh snapshot {projection.hub}` and rerun, "
        "or pass --allow-gap to build from what is left"
    )
