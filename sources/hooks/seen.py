"""The deliveries already stored, beyond the stream's two-minute duplicate window.

JetStream drops a repeated `Nats-Msg-Id` only within the stream's duplicate window, while Alertmanager repeats a
firing alert every `repeat_interval` (hours) and a forge's redelivery can come days later. A key-value bucket
keeps each stored hook event's id for `KEEP_S`: an id found there is a duplicate and is not published again.
Two deliveries racing each other inside the window are caught by the stream itself (`Nats-Msg-Id`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import msgspec
import structlog
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.js.api import KeyValueConfig, StorageType
from nats.js.errors import BucketNotFoundError, KeyDeletedError, KeyNotFoundError
from nats.js.kv import KeyValue

from vsmesh.bus.pipeline import AckPipeline

log = structlog.get_logger(__name__)

BUCKET = "vsmesh-hooks-seen"
KEEP_S = 400 * 86400.0  # longer than any source's redelivery; ids outlive the operational stream's 90 days
# Ids this process stored or found stored, answered without asking the bucket: Alertmanager's repeats are most
# deliveries, and a bucket read is a round trip per alert. Only "stored" is remembered, which never turns false.
KNOWN_MAX = 100_000
BATCH_TIMEOUT_S = 5.0


class _NoBatch(Exception):
    """The server answers no batched direct get here: read entry by entry."""


class Seen:
    """The ledger, its bucket created on first use."""

    def __init__(self, nc: Client, *, replicas: int = 1) -> None:
        self._nc = nc
        self._js = nc.jetstream()
        self._replicas = replicas
        self._kv: KeyValue | None = None
        self._opening = asyncio.Lock()
        self._known: dict[str, str] = {}  # id → where; insertion-ordered: the oldest is dropped first

    async def _bucket(self) -> KeyValue:
        if self._kv is None:
            async with self._opening:
                if self._kv is None:
                    self._kv = await self._open()
        return self._kv

    async def _open(self) -> KeyValue:
        try:
            return await self._js.key_value(BUCKET)
        except BucketNotFoundError:
            # direct: a read is answered as a plain message, not JSON with base64 inside (cheaper per alert)
            config = KeyValueConfig(
                bucket=BUCKET, history=1, ttl=KEEP_S, storage=StorageType.FILE, replicas=self._replicas, direct=True
            )
            return await self._js.create_key_value(config=config)

    async def which(self, event_ids: Sequence[str]) -> dict[str, str]:
        """The ids among `event_ids` already stored, each with where (`STREAM:seq`)."""
        known = {event_id: self._known[event_id] for event_id in event_ids if event_id in self._known}
        unknown = [event_id for event_id in event_ids if event_id not in known]
        kv = await self._bucket()
        if not unknown:
            return known
        try:
            stored = await self._batch(unknown)
        except _NoBatch:  # a server before 2.11, or a replicated bucket: one read per id
            found = await asyncio.gather(*(self._where(kv, event_id) for event_id in unknown))
            stored = {event_id: where for event_id, where in zip(unknown, found, strict=True) if where is not None}
        self._remember(stored)
        return known | stored

    async def _batch(self, event_ids: list[str]) -> dict[str, str]:
        """Every id's entry in one batched direct get (`multi_last`, server 2.11+, ADR-31): one round trip for
        a delivery's alerts instead of one each. Direct gets may be answered by a lagging replica, so only a
        bucket of one replica is read this way."""
        if self._replicas != 1:
            raise _NoBatch()
        prefix = f"$KV.{BUCKET}."
        found: dict[str, str] = {}
        end: asyncio.Future[str] = asyncio.get_running_loop().create_future()

        async def receive(msg: Msg) -> None:
            headers = msg.headers or {}
            if "Status" in headers or "Nats-Num-Pending" not in headers:
                if not end.done():
                    end.set_result(headers.get("Status", "no batch"))
                return
            if headers.get("KV-Operation") is None:  # DEL and PURGE markers are no entry
                found[headers["Nats-Subject"].removeprefix(prefix)] = msg.data.decode()

        inbox = self._nc.new_inbox()
        sub = await self._nc.subscribe(inbox, cb=receive)
        try:
            request = msgspec.json.encode({"multi_last": [prefix + i for i in event_ids], "batch": len(event_ids)})
            await self._nc.publish(f"$JS.API.DIRECT.GET.KV_{BUCKET}", request, reply=inbox)
            status = await asyncio.wait_for(end, BATCH_TIMEOUT_S)
        finally:
            await sub.unsubscribe()
        if status not in ("204", "404"):  # 204: the batch's end; 404: none of them stored
            raise _NoBatch()
        return found

    async def record(self, stored: dict[str, str]) -> None:
        """Remember stored events: id → where it was stored (`STREAM:seq`), the puts pipelined (one inbox, acks
        decoded with msgspec) as the publisher sends events. A put without an acknowledgement is only a repeat
        the ledger may miss later; the stream's duplicate window still holds for two minutes."""
        await self._bucket()
        async with AckPipeline(self._nc, max(len(stored), 1)) as pipeline:
            for index, (event_id, where) in enumerate(stored.items()):
                await pipeline.send(index, f"$KV.{BUCKET}.{event_id}", where.encode(), {})
            acks = await pipeline.wait()
        missing = len(stored) - sum(1 for ack in acks.values() if not isinstance(ack, Exception) and not ack.error)
        if missing:
            log.warning("hook ledger entries not acknowledged", missing=missing)
        self._remember(stored)

    def _remember(self, stored: dict[str, str]) -> None:
        self._known.update(stored)
        while len(self._known) > KNOWN_MAX:
            del self._known[next(iter(self._known))]

    @staticmethod
    async def _where(kv: KeyValue, event_id: str) -> str | None:
        try:
            entry = await kv.get(event_id)
        except (KeyNotFoundError, KeyDeletedError):  # never stored, or aged out
            return None
        return (entry.value or b"").decode()
