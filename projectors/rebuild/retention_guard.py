"""A retention change that cannot break a rebuild: before a stream's max age is shortened, every hub reading it
must still be rebuildable afterwards — from the log, or from a snapshot the log still follows on.

The rule is the rebuild's own (projectors/rebuild/retention.py `plan_start`): once a stream no longer starts at
sequence 1, a hub's rebuild needs a snapshot that covers everything up to the new first sequence. So the check
sets the stream's new first sequence into each hub's picture and asks `usable` of its snapshots, exactly as
the rebuild will. It counts what each hub would lose (its events older than the new max age), read from the
log before anything is deleted, so the refusal can say which hub and which events.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

from vsmesh.bus.reader import count_pending
from vsmesh.bus.streams import RETENTION_BY, RETENTION_SET, stream_info
from vsmesh.projectors.engine.pipeline import Until
from vsmesh.projectors.engine.projection import Projection
from vsmesh.projectors.rebuild.retention import first_sequences, gaps, usable
from vsmesh.projectors.rebuild.snapshot_store import list_snapshots


@dataclass(frozen=True)
class HubAtRetention:
    """What a retention change means for one hub reading the stream."""

    hub: str
    lost: int  # the hub's events older than the new max age, deleted by the change
    first_lost: int = 0  # the sequence of the first of them (0 when none)
    covered_by: str | None = None  # the snapshot a rebuild would start from; None when it needs none or has none
    needs_snapshot: bool = False  # the stream would no longer start at 1 for this hub's rebuild

    @property
    def safe(self) -> bool:
        return not self.needs_snapshot or self.covered_by is not None


@dataclass
class RetentionCheck:
    stream: str
    max_age_s: float
    cutoff: dt.datetime | None  # events stored before this age out (None: kept forever)
    first_kept: int  # the stream's first sequence after the change
    hubs: list[HubAtRetention] = field(default_factory=list)

    @property
    def refused(self) -> list[HubAtRetention]:
        return [h for h in self.hubs if not h.safe]

    def refusal(self) -> str:
        """One line: which hubs, which events, what to do."""
        losing = sorted((h for h in self.refused if h.lost), key=lambda h: -h.lost)
        quiet = [h for h in self.refused if not h.lost]
        parts = [
            f"{h.hub} would lose {h.lost} event{'s' if h.lost != 1 else ''} its rebuild needs "
            f"({self.stream} from sequence {h.first_lost}, stored before {_when(self.cutoff)})"
            for h in losing
        ]
        if quiet:
            names = ", ".join(h.hub for h in quiet[:5]) + (f" and {len(quiet) - 5} more" if len(quiet) > 5 else "")
            parts.append(f"{names} lose none but would need a snapshot to rebuild past the gap")
        return (
            f"setting {self.stream} retention to {_age(self.max_age_s)} would break rebuilds: "
            f"{'; '.join(parts)}, and no snapshot covers them; run again with --snapshot to snapshot "
            f"{'them' if len(self.refused) > 1 else 'it'} first (or `vsmesh snapshot HUB` each, with the mesh up)"
        )


async def check_retention(
    js: JetStreamContext, projections: list[Projection], stream: str, max_age_s: float
) -> RetentionCheck:
    """What setting `stream`'s max age to `max_age_s` (0: forever) would do to each hub reading it."""
    state = (await stream_info(js, stream)).state
    if max_age_s <= 0:
        return RetentionCheck(stream, 0, None, state.first_seq if state.messages else state.last_seq + 1)
    cutoff = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=max_age_s)
    first = await first_kept(js, stream, cutoff)
    check = RetentionCheck(stream, max_age_s, cutoff, first)
    for projection in projections:
        if stream in projection.streams:
            check.hubs.append(await _hub_at(js, projection, stream, first))
    return check


async def _hub_at(js: JetStreamContext, projection: Projection, stream: str, first: int) -> HubAtRetention:
    subject = projection.streams[stream]
    lost = await count_pending(js, stream, subject, 0) - await count_pending(js, stream, subject, first - 1)
    span = (await _first_from(js, stream, subject, ConsumerConfig()) or 0,) if lost else ()
    firsts = await first_sequences(js, projection)
    firsts[stream] = max(firsts[stream], first)
    if not gaps(firsts, {}):
        return HubAtRetention(projection.hub, lost, *span)
    for snapshot in await list_snapshots(js, projection.hub):
        if usable(snapshot, firsts, Until()):
            return HubAtRetention(projection.hub, lost, *span, covered_by=snapshot.name, needs_snapshot=True)
    return HubAtRetention(projection.hub, lost, *span, needs_snapshot=True)


async def first_kept(js: JetStreamContext, stream: str, cutoff: dt.datetime) -> int:
    """The first sequence stored at or after `cutoff` (one past the head when none is)."""
    stamp = cutoff.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    config = ConsumerConfig(deliver_policy=DeliverPolicy.BY_START_TIME, opt_start_time=stamp)
    found = await _first_from(js, stream, None, config)
    return found or (await stream_info(js, stream)).state.last_seq + 1


async def _first_from(js: JetStreamContext, stream: str, subject: str | None, config: ConsumerConfig) -> int | None:
    """The sequence of the first message a short-lived pull consumer with `config` would deliver."""
    config.ack_policy, config.inactive_threshold, config.mem_storage = AckPolicy.NONE, 5.0, True
    if subject:
        config.filter_subject = subject
    info = await js.add_consumer(stream, config)
    try:
        if not info.num_pending:
            return None
        sub = await js.pull_subscribe_bind(consumer=info.name, stream=stream)
        try:
            msgs = await sub.fetch(1, timeout=5)
            return msgs[0].metadata.sequence.stream
        finally:
            await sub.unsubscribe()
    finally:
        await js.delete_consumer(stream, info.name)


async def set_retention(
    js: JetStreamContext, stream: str, max_age_s: float, text: str, *, by: str | None = None
) -> None:
    """Set the stream's max age, marked so `vsmesh up` keeps it instead of reconciling it to the default (and,
    `by`, with who chose it: the stream itself says who changed how long it remembers)."""
    config = (await stream_info(js, stream)).config
    config.max_age = max_age_s
    if max_age_s and (config.duplicate_window or 0) > max_age_s:
        config.duplicate_window = max_age_s  # the server refuses a window longer than the max age
    chosen = {RETENTION_SET: text, **({RETENTION_BY: by} if by else {})}
    config.metadata = {**(config.metadata or {}), **chosen}
    await js.update_stream(config)


def _when(cutoff: dt.datetime | None) -> str:
    return cutoff.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ") if cutoff else "-"


def _age(seconds: float) -> str:
    if not seconds:
        return "forever"
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{int(seconds // size)}{unit}"
    return f"{seconds:g}s"
