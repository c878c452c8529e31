"""The deliveries already stored, beyond the stream's two-minute duplicate window.

JetStream drops a repeated `Nats-Msg-Id` only within the stream's duplicate window, while Alertmanager repeats a
firing alert every `repeat_interval` (hours) and a forge's redelivery can come days later. A key-value bucket
keeps each stored hook event's id for `KEEP_S`: an id found there is a duplicate and is not published again.
Two deliveries racing each other inside the window are caught by the stream itself (`Nats-Msg-Id`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from nats.js import JetStreamContext
from nats.js.api import KeyValueConfig, StorageType
from nats.js.errors import BucketNotFoundError, KeyDeletedError, KeyNotFoundError
from nats.js.kv import KeyValue

BUCKET = "vsmesh-hooks-seen"
KEEP_S = 400 * 86400.0  # longer than any source's redelivery; ids outlive the operational stream's 90 days


class Seen:
    """The ledger, its bucket created on first use."""

    def __init__(self, js: JetStreamContext, *, replicas: int = 1) -> None:
        self._js = js
        self._replicas = replicas
        self._kv: KeyValue | None = None
        self._opening = asyncio.Lock()

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
            config = KeyValueConfig(
                bucket=BUCKET, history=1, ttl=KEEP_S, storage=StorageType.FILE, replicas=self._replicas
            )
            return await self._js.create_key_value(config=config)

    async def which(self, event_ids: Sequence[str]) -> set[str]:
        """The ids among `event_ids` already stored."""
        kv = await self._bucket()
        found = await asyncio.gather(*(self._has(kv, event_id) for event_id in event_ids))
        return {event_id for event_id, there in zip(event_ids, found, strict=True) if there}

    async def record(self, stored: dict[str, str]) -> None:
        """Remember stored events: id → where it was stored (`STREAM:seq`)."""
        kv = await self._bucket()
        await asyncio.gather(*(kv.put(event_id, where.encode()) for event_id, where in stored.items()))

    @staticmethod
    async def _has(kv: KeyValue, event_id: str) -> bool:
        try:
            await kv.get(event_id)
        except (KeyNotFoundError, KeyDeletedError):  # never stored, or aged out
            return False
        return True
