"""Snapshots in the JetStream object store, so they live (and replicate) with the log they summarise.

One object per snapshot, named `<hub>/<UTC time>`: a zlib-compressed msgpack body holding each table as
PostgreSQL binary COPY data; the object's description holds the summary (`SnapshotInfo`) as JSON, so a
listing needs no download.
"""

from __future__ import annotations

import datetime as dt
import zlib

import msgspec
import structlog
from nats.js import JetStreamContext
from nats.js.api import ObjectMeta, ObjectStoreConfig, StorageType
from nats.js.errors import BucketNotFoundError, NotFoundError
from nats.js.object_store import ObjectStore

log = structlog.get_logger(__name__)

BUCKET = "vsmesh-snapshots"
FORMAT = 1


class SnapshotInfo(msgspec.Struct, frozen=True, kw_only=True):
    """What a snapshot holds: a hub's tables as of `positions` (the last applied sequence per stream)."""

    hub: str
    name: str
    created: dt.datetime
    positions: dict[str, int]
    stamps: dict[str, dt.datetime] = {}  # stream time of the message at each position
    # Per stream, the sequence up to which the log holds none of the hub's events the snapshot lacks: its
    # position, or the stream's head when the hub had nothing newer. A quiet hub on a busy stream then stays
    # rebuildable from it after retention ages out sequences past its own last event (projectors/rebuild/retention.py).
    covers: dict[str, int] = {}
    fingerprint: str = ""
    tables: list[str] = []
    rows: int = 0
    format: int = FORMAT

    def covered(self, stream: str) -> int:
        """The last sequence of `stream` this snapshot stands in for (at least its position)."""
        return max(self.positions.get(stream, 0), self.covers.get(stream, 0))


class TableDump(msgspec.Struct, frozen=True):
    name: str
    columns: list[str]
    copy: bytes  # PostgreSQL binary COPY of those columns


class SnapshotBody(msgspec.Struct, frozen=True):
    info: SnapshotInfo
    tables: list[TableDump]


def object_name(hub: str, created: dt.datetime) -> str:
    return f"{hub}/{created.astimezone(dt.UTC):%Y%m%dT%H%M%S.%fZ}"


async def bucket(js: JetStreamContext, *, create: bool) -> ObjectStore | None:
    """The snapshot bucket; created on first use when `create`, else None when there is none yet."""
    try:
        return await js.object_store(BUCKET)
    except BucketNotFoundError:
        if not create:
            return None
    return await js.create_object_store(
        BUCKET, ObjectStoreConfig(description="vsmesh hub snapshots", storage=StorageType.FILE)
    )


async def put_snapshot(js: JetStreamContext, body: SnapshotBody) -> SnapshotInfo:
    """Store a snapshot; returns its summary."""
    store = await bucket(js, create=True)
    assert store is not None
    data = zlib.compress(msgspec.msgpack.encode(body), 1)
    meta = ObjectMeta(name=body.info.name, description=msgspec.json.encode(body.info).decode())
    await store.put(body.info.name, data, meta=meta)
    log.info(
        "snapshot stored",
        hub=body.info.hub,
        snapshot=body.info.name,
        positions=body.info.positions,
        rows=body.info.rows,
        bytes=len(data),
    )
    return body.info


async def list_snapshots(js: JetStreamContext, hub: str | None = None) -> list[SnapshotInfo]:
    """Snapshots of `hub` (or of every hub), newest first."""
    store = await bucket(js, create=False)
    if store is None:
        return []
    try:
        entries = await store.list(ignore_deletes=True)
    except NotFoundError:
        return []
    found = []
    for entry in entries:
        if entry.deleted or not entry.description:
            continue
        try:
            info = msgspec.json.decode(entry.description, type=SnapshotInfo)
        except msgspec.DecodeError:
            log.warning("snapshot with an unreadable summary ignored", snapshot=entry.name)
            continue
        if hub is None or info.hub == hub:
            found.append(info)
    return sorted(found, key=lambda i: i.created, reverse=True)


async def load_snapshot(js: JetStreamContext, info: SnapshotInfo) -> SnapshotBody:
    store = await bucket(js, create=False)
    assert store is not None, "a listed snapshot has a bucket"
    result = await store.get(info.name)
    return msgspec.msgpack.decode(zlib.decompress(result.data), type=SnapshotBody)


async def prune_snapshots(js: JetStreamContext, hub: str, keep: int) -> int:
    """Delete all but the newest `keep` snapshots of a hub; returns how many went."""
    old = (await list_snapshots(js, hub))[keep:]
    store = await bucket(js, create=False)
    for info in old:
        assert store is not None
        await store.delete(info.name)
    if old:
        log.info("old snapshots deleted", hub=hub, deleted=len(old), kept=keep)
    return len(old)
