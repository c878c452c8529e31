"""Reading streams: ordered push consumers drained into batches, bounded (to the head) or following."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import AsyncIterator
from dataclasses import dataclass

from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import ConsumerConfig, DeliverPolicy


@dataclass(frozen=True)
class Start:
    """Where a read begins: after a sequence, at a time, only new messages, or (default) the beginning."""

    after_seq: int | None = None
    at_time: dt.datetime | None = None
    new_only: bool = False

    def consumer_config(self) -> ConsumerConfig:
        if self.after_seq is not None:
            return ConsumerConfig(deliver_policy=DeliverPolicy.BY_START_SEQUENCE, opt_start_seq=self.after_seq + 1)
        if self.at_time is not None:
            stamp = self.at_time.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
            return ConsumerConfig(deliver_policy=DeliverPolicy.BY_START_TIME, opt_start_time=stamp)
        if self.new_only:
            return ConsumerConfig(deliver_policy=DeliverPolicy.NEW)
        return ConsumerConfig(deliver_policy=DeliverPolicy.ALL)


class StreamReader:
    """One ordered consumer on one stream and filter; messages wait in a local queue for batching."""

    def __init__(self, js: JetStreamContext, stream: str, filter_subject: str, start: Start) -> None:
        self._js = js
        self.stream = stream
        self.filter_subject = filter_subject
        self._start = start
        self._queue: asyncio.Queue[Msg] = asyncio.Queue()
        self._sub = None

    async def __aenter__(self) -> StreamReader:
        async def enqueue(msg: Msg) -> None:
            self._queue.put_nowait(msg)

        self._sub = await self._js.subscribe(
            self.filter_subject,
            stream=self.stream,
            cb=enqueue,
            ordered_consumer=True,
            config=self._start.consumer_config(),
            pending_msgs_limit=-1,
        )
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._sub is not None:
            try:
                await self._sub.unsubscribe()
            except Exception:  # noqa: BLE001 - the connection may already be gone; nothing to save
                pass

    async def batch(self, max_size: int, wait_s: float, timeout: float | None = None) -> list[Msg]:  # noqa: ASYNC109
        """The next batch: waits for a first message (up to `timeout`), then briefly for more."""
        try:
            first = await asyncio.wait_for(self._queue.get(), timeout)
        except TimeoutError:
            return []
        batch = [first]
        deadline = asyncio.get_running_loop().time() + wait_s
        while len(batch) < max_size:
            if self._queue.empty():
                remaining = deadline - asyncio.get_running_loop().time()
                if remaining <= 0:
                    break
                try:
                    batch.append(await asyncio.wait_for(self._queue.get(), remaining))
                except TimeoutError:
                    break
                continue
            batch.append(self._queue.get_nowait())
        return batch

    async def nothing_to_read(self) -> bool:
        """True when the consumer matched nothing at all (so a bounded read can end at once)."""
        assert self._sub is not None
        info = await self._sub.consumer_info()
        return info.num_pending == 0 and info.delivered.consumer_seq == 0 and self._queue.empty()

    async def drain_to_head(self, max_size: int = 1000) -> AsyncIterator[list[Msg]]:
        """Batches of everything already stored that matches, then stop."""
        if await self.nothing_to_read():
            return
        while True:
            batch = await self.batch(max_size, 0.0, timeout=5.0)
            if not batch:
                if await self._caught_up():
                    return
                continue
            yield batch
            if batch[-1].metadata.num_pending == 0:
                return

    async def pending(self) -> int:
        """Stored messages matching the filter not yet delivered to us."""
        assert self._sub is not None
        return (await self._sub.consumer_info()).num_pending

    async def catch_up(self, max_size: int = 1000) -> AsyncIterator[list[Msg]]:
        """Batches of whatever arrived since the last read, until the head at this moment."""
        while True:
            if self._queue.empty() and await self._caught_up():
                return
            batch = await self.batch(max_size, 0.0, timeout=1.0)
            if batch:
                yield batch

    async def _caught_up(self) -> bool:
        assert self._sub is not None
        info = await self._sub.consumer_info()
        return info.num_pending == 0 and self._queue.empty()
