"""Projector status shared through NATS: each running `vsmesh up` puts its projectors' stats in a KV bucket,
where `vsmesh status` (any machine) reads them. Entries expire, so a stopped process's vanish."""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import socket
import time
from collections.abc import Callable, Sequence

import msgspec
import structlog
from nats.errors import Error as NatsError
from nats.js import JetStreamContext
from nats.js.api import KeyValueConfig, StorageType
from nats.js.kv import KeyValue

from vsmesh.bus.buckets import open_bucket
from vsmesh.projectors.engine.stats import ProjectorStats

log = structlog.get_logger(__name__)

BUCKET = "vsmesh-status"
TTL_S = 30.0  # a report older than this is gone: its process stopped (or lost NATS)
INTERVAL_S = 2.0


class ProjectorReport(msgspec.Struct, frozen=True, kw_only=True):
    """One projector's state as its process last saw it."""

    hub: str
    positions: dict[str, int]
    applied: int
    events_per_s: float
    last_error: str | None = None
    last_snapshot: str | None = None
    host: str = ""
    pid: int = 0
    updated: dt.datetime
    partition: str = ""  # "p0" … for one partition of a partitioned hub

    @property
    def name(self) -> str:
        """The projector's name in status: the hub, or `hub p0` for one of its partitions."""
        return f"{self.hub} {self.partition}" if self.partition else self.hub


def key(hub: str, partition: str = "") -> str:
    return f"projector.{hub}.{partition}" if partition else f"projector.{hub}"


async def bucket(js: JetStreamContext, *, create: bool) -> KeyValue | None:
    """The status bucket; created on first use when `create`, else None when no process made it yet."""
    config = KeyValueConfig(bucket=BUCKET, history=1, ttl=TTL_S, storage=StorageType.MEMORY)
    return await open_bucket(js, config, create=create)


def report_of(stats: ProjectorStats) -> ProjectorReport:
    """A report from the runner's ProjectorStats."""
    return ProjectorReport(
        hub=stats.hub,
        positions=dict(stats.positions),
        applied=stats.applied,
        events_per_s=round(stats.events_per_s, 1),
        last_error=stats.last_error,
        last_snapshot=stats.last_snapshot,
        partition=stats.partition,
        host=socket.gethostname(),
        pid=os.getpid(),
        updated=dt.datetime.now(dt.UTC),
    )


async def publish_periodically(
    js: JetStreamContext, running: Callable[[], Sequence[ProjectorStats]], stop: asyncio.Event
) -> None:
    """Every INTERVAL_S: work out the rate of each projector running now (the registry's and manifest hubs' come
    and go) and put its report in the bucket."""
    kv: KeyValue | None = None
    seen = {id(s): (s.applied, time.monotonic()) for s in running()}
    while not stop.is_set():
        try:
            await asyncio.wait_for(stop.wait(), INTERVAL_S)
            return
        except TimeoutError:
            pass
        stats = list(running())
        for s in stats:
            applied, at = seen.setdefault(id(s), (0, time.monotonic()))
            now = time.monotonic()
            s.events_per_s = (s.applied - applied) / (now - at) if now > at else 0.0
            seen[id(s)] = (s.applied, now)
        try:
            kv = kv or await bucket(js, create=True)
            assert kv is not None
            for s in stats:
                await kv.put(key(s.hub, s.partition), msgspec.json.encode(report_of(s)))
        except (NatsError, TimeoutError, OSError) as e:
            # Only the status display suffers; projection goes on. Said once per failure, retried next tick.
            log.warning("projector status not published", error=str(e) or repr(e))
            kv = None


async def read_reports(js: JetStreamContext) -> dict[str, ProjectorReport]:
    """The reports of every running projector, by name (the hub, or `hub p0` … for its partitions)."""
    kv = await bucket(js, create=False)
    if kv is None:
        return {}
    reports = {}
    try:
        keys = await kv.keys()
    except NatsError:
        return {}  # nats-py raises NoKeysError (a NatsError) for an empty bucket
    for k in keys:
        try:
            entry = await kv.get(k)
        except NatsError:
            continue  # expired between listing and reading
        try:
            report = msgspec.json.decode(entry.value or b"", type=ProjectorReport)
        except msgspec.DecodeError:
            log.warning("unreadable projector report ignored", key=k)
            continue
        reports[report.name] = report
    return reports
