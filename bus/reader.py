"""Reading streams: ordered push consumers drained into batches, bounded (to the head) or following."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections import deque
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

from vsmesh.bus.nats_internals import Delivered, Sourced, deliver_directly, sourced
from vsmesh.bus.splits import Share, origin, sourced_through, split_start
from vsmesh.bus.streams import patiently, stream_info
from vsmesh.durations import is_duration, parse_duration
from vsmesh.errors import ConfigError


@dataclass(frozen=True)
class Start:
    """Where a read begins: after a sequence, at a time, only new messages, or (default) the beginning."""

    after_seq: int | None = None
    at_time: dt.datetime | None = None
    new_only: bool = False

    @classmethod
    def since(cls, since: str | None, *, follow: bool = False) -> Start:
        """From what a person types: a sequence number, an age (10m, 2h, 1d), or nothing (all; new only when
        following). ConfigError naming the forms otherwise."""
        if since is None:
            return cls(new_only=follow)
        if since.isdigit():
            return cls(after_seq=max(int(since) - 1, 0))
        if not is_duration(since):
            raise ConfigError(f"--since {since!r}: use a duration like 10m, 2h, 1d or a sequence number")
        return cls(at_time=dt.datetime.now(dt.UTC) - dt.timedelta(seconds=parse_duration(since)))

    def consumer_config(self) -> ConsumerConfig:
        if self.after_seq is not None:
            return ConsumerConfig(deliver_policy=DeliverPolicy.BY_START_SEQUENCE, opt_start_seq=self.after_seq + 1)
        if self.at_time is not None:
            stamp = self.at_time.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
            return ConsumerConfig(deliver_policy=DeliverPolicy.BY_START_TIME, opt_start_time=stamp)
        if self.new_only:
            return ConsumerConfig(deliver_policy=DeliverPolicy.NEW)
        return ConsumerConfig(deliver_policy=DeliverPolicy.ALL)


_V1_ACK_TOKENS = 9  # $JS.ACK.<stream>.<consumer>.<delivered>.<stream seq>.<consumer seq>.<time>.<pending>

_FILL_POLL_S = 0.005  # how often a filling batch takes what arrived

Stop = Callable[[Msg], bool]  # true for the first message a bounded read must not include


def subject_matches(filter_subject: str, subject: str) -> bool:
    """NATS subject matching: `*` is one token, a final `>` one or more."""
    want, have = filter_subject.split("."), subject.split(".")
    for i, token in enumerate(want):
        if token == ">":
            return len(have) > i
        if i >= len(have) or (token != "*" and token != have[i]):
            return False
    return len(have) == len(want)


def subject_filter(filter_subject: str) -> Callable[[str], bool]:
    """A matcher for one filter; `prefix.>` filters (the common case) become a plain prefix test."""
    head, _, last = filter_subject.rpartition(".")
    if last == ">" and "*" not in head and ">" not in head:
        prefix = head + "."
        return lambda subject: subject.startswith(prefix) and len(subject) > len(prefix)
    return lambda subject: subject_matches(filter_subject, subject)


def stream_sequence(msg: Msg) -> int:
    """A delivered message's stream sequence, read straight from its reply subject (msg.metadata parses all)."""
    kind = type(msg)
    if kind is Delivered or kind is Sourced:
        return msg.seq  # read from the reply once, by the fast parser (a split's: the horizon stream's)
    reply = msg.reply
    if reply.count(".") == _V1_ACK_TOKENS - 1:
        # The 6th of 9 tokens is the 4th from the end: split off only the last four (runs once per event).
        return int(reply.rsplit(".", 4)[1])
    if not reply:  # a direct get's answer (bus/direct.py) carries its sequence in a header
        return int(msg.headers["Nats-Sequence"])  # type: ignore[index]
    return msg.metadata.sequence.stream


def stream_time_ns(msg: Msg) -> int:
    """A delivered message's stream time in nanoseconds since the epoch, from its reply subject."""
    tokens = msg.reply.split(".")
    if len(tokens) == _V1_ACK_TOKENS:
        return int(tokens[7])
    return int(msg.metadata.timestamp.timestamp() * 1_000_000) * 1000


async def count_pending(js: JetStreamContext, stream: str, filter_subject: str | list[str], after_seq: int) -> int:
    """Stored messages on `filter_subject` (or any of a list) past `after_seq`, counted by a short-lived consumer."""
    many = isinstance(filter_subject, list)
    info = await js.add_consumer(
        stream,
        ConsumerConfig(
            filter_subject=None if many else filter_subject,
            filter_subjects=filter_subject if many else None,
            deliver_policy=DeliverPolicy.BY_START_SEQUENCE,
            opt_start_seq=after_seq + 1,
            ack_policy=AckPolicy.NONE,
            inactive_threshold=5.0,
            mem_storage=True,
        ),
    )
    try:
        return info.num_pending
    finally:
        await js.delete_consumer(stream, info.name)


class StreamReader:
    """One ordered consumer on one stream and filter; messages wait in a local queue for batching.

    With `max_queued`, the reader pauses when that many messages wait: it drops its consumer and makes a
    new one after the last message it kept once three quarters of them are read. (nats-py answers JetStream flow
    control as messages arrive, not as a callback finishes, so a slow callback alone would let the
    server fill memory with the whole stream.)

    With `filter_locally`, the consumer reads the whole stream and the filter is applied here. The server
    spends far more per message on a narrow wildcard filter than on none (with a few thousand subjects;
    docs/performance.md §Reading), so a reader whose subjects are most of the stream is faster this way.

    With `share`, the reader reads one partition's share of the stream from its split stream
    (bus/splits.py) and hands each message on as the horizon stream stored it (subject, sequence); `start`
    stays in the horizon stream's sequences. With `mirrored` too, it reads the partition's own stream
    (`Share.name`, a mirror of the split stream holding only that share) with no filter: a bounded read's way,
    far cheaper for the server than filtering the split (`settled` says nothing then).
    """

    def __init__(
        self,
        js: JetStreamContext,
        stream: str,
        filter_subject: str,
        start: Start,
        *,
        max_queued: int = 0,
        filter_locally: bool = False,
        share: Share | None = None,
        mirrored: bool = False,
    ) -> None:
        self._js = js
        self.stream = stream
        self.filter_subject = filter_subject
        self._start = start
        self._max_queued = max(max_queued, 2) if max_queued else 0
        # A deque and an Event rather than an asyncio.Queue: the callback runs once per message, and
        # Queue.put_nowait/get_nowait cost several times an append/popleft (bench/rebuild.py).
        self._queue: deque[Msg] = deque()
        self._arrived = asyncio.Event()
        self._sub = None
        self._consumer_subject = filter_subject
        self._filter_locally = filter_locally
        self._markers = 0  # head markers of other subjects waiting in the queue
        self._last: Msg | None = None  # the last message seen, kept or not: a resumed read starts after it
        self._generation = 0  # bumped on pause: a dropped subscription's stragglers are ignored
        self._paused: asyncio.Task | None = None
        self._share = share
        # Where a share is read from, and the subjects its consumer filters on there.
        self._mirrored = mirrored
        self._split_stream = "" if share is None else share.name if mirrored else share.split.name
        self._share_filters = [">"] if mirrored else list(share.filters) if share is not None else []
        self._settled_at = 0  # and the split stream's last sequence when it last settled

    async def __aenter__(self) -> StreamReader:
        if self._share is not None:
            self._filter_locally = False
            if self._start.after_seq is not None:
                after = await split_start(self._js, self._split_stream, self._start.after_seq)
                await self._subscribe(Start(after_seq=after))
                return self
        if self._filter_locally:
            subjects = (await stream_info(self._js, self.stream)).config.subjects or []
            if len(subjects) == 1:
                self._consumer_subject = subjects[0]
            else:
                self._filter_locally = False  # no single subject covers the stream: let the server filter
        await self._subscribe(self._start)
        return self

    async def _subscribe(self, start: Start) -> None:
        generation = self._generation
        wanted = subject_filter(self.filter_subject)
        share, stream = self._share, self.stream

        def receive(msg: Msg) -> None:
            if generation != self._generation:
                return  # read again after the resume
            if share is not None and type(msg) is not Sourced:  # (the fast parser's come as Sourced already)
                at, subject = origin(msg)
                msg = sourced(msg, stream, subject, at)
            self._last = msg
            if self._filter_locally and not wanted(msg.subject):
                if msg.metadata.num_pending:
                    return
                self._markers += 1  # another subject's message at the head: passed on only to say so
            queue = self._queue
            queue.append(msg)
            queued = len(queue)
            if queued == 1:  # a batch waits for a message only when the queue is empty (_wait)
                self._arrived.set()
            if self._max_queued and queued >= self._max_queued:
                self._pause()

        async def enqueue(msg: Msg) -> None:
            receive(msg)

        # Asked again while a cluster recovers (a consumer create timed out right after a node restarted,
        # tests/cluster/test_failover.py): each try with a new config, so a new deliver subject — a consumer
        # the timed-out try did create pushes to an inbox nobody reads and goes when inactive.
        def config() -> ConsumerConfig:
            made = start.consumer_config()
            if share is not None:
                made.filter_subjects = self._share_filters
            return made

        self._sub = await patiently(
            lambda: self._js.subscribe(
                self._consumer_subject if share is None else "",
                stream=self.stream if share is None else self._split_stream,
                cb=enqueue,
                ordered_consumer=True,
                config=config(),
                pending_msgs_limit=-1,  # a dropped message would go unnoticed by nats-py's ordered consumer
            ),
            f"a consumer on {self.stream}",
        )
        # nats-py's queue and task skipped: bus/nats_internals.py
        deliver_directly(self._sub, receive, sourced_from=stream if share is not None else None)

    def _pause(self) -> None:
        self._generation += 1
        self._paused = asyncio.create_task(_unsubscribe(self._sub))

    async def _resume_when_drained(self) -> None:
        if self._paused is None or len(self._queue) > self._max_queued // 4:
            return
        await self._paused
        self._paused = None
        assert self._last is not None, "a paused reader has kept messages"
        last = self._last.split_seq if isinstance(self._last, Sourced) else self._last.metadata.sequence.stream
        await self._subscribe(Start(after_seq=last))

    async def __aexit__(self, *exc: object) -> None:
        self._generation += 1
        if self._paused is not None:
            await self._paused
        elif self._sub is not None:
            await _unsubscribe(self._sub)

    async def _wait(self, timeout: float | None) -> bool:
        """Wait (up to `timeout`) until a message is queued; true when one is."""
        while not self._queue:
            self._arrived.clear()
            try:
                await asyncio.wait_for(self._arrived.wait(), timeout)
            except TimeoutError:
                return bool(self._queue)
        return True

    async def batch(
        self, max_size: int, wait_s: float, timeout: float | None = None, *, until_head: bool = False
    ) -> list[Msg]:
        """The next batch: waits for a first message (up to `timeout`), then briefly for more.

        With `until_head`, it stops waiting for more once it holds the stream's last stored message.
        """
        queue = self._queue
        if not queue and not await self._wait(timeout):
            return []
        batch: list[Msg] = []
        deadline = asyncio.get_running_loop().time() + wait_s
        while True:
            take = min(max_size - len(batch), len(queue))
            if take == len(queue):
                batch.extend(queue)
                queue.clear()
            else:
                batch.extend(queue.popleft() for _ in range(take))
            if len(batch) >= max_size or (until_head and batch[-1].metadata.num_pending == 0):
                break
            if self._paused is not None:
                break  # nothing more arrives before this batch is taken
            remaining = deadline - asyncio.get_running_loop().time()
            if remaining <= 0:
                break
            if until_head:
                # Filling a big batch: look again in a moment rather than wake for every chunk read.
                await asyncio.sleep(min(remaining, _FILL_POLL_S))
            elif not await self._wait(remaining):
                break
        await self._resume_when_drained()
        return batch

    async def settled(self) -> int | None:
        """A split reader with nothing waiting: the horizon stream's sequence through which it has handed on
        all of its share (the split stream's newest event's), or None when it cannot tell (more is on its way,
        nothing was sourced). A partition idle while others' events arrive is still applied that far."""
        if self._share is None or self._mirrored or self._queue or self._paused is not None or self._sub is None:
            return None
        newest = (await stream_info(self._js, self._share.split.name)).state.last_seq
        if not newest or newest == self._settled_at:
            return None  # nothing sourced, or nothing since it last settled
        through = await sourced_through(self._js, self._share.split, newest)
        info = await self._sub.consumer_info()  # after the newest was read: its pending covers it
        if info.num_pending:
            return None
        if self._last is None:
            if info.delivered.consumer_seq:
                return None
            self._settled_at = newest
            return through
        seen = self._last.metadata
        if seen.consumer != info.name or seen.sequence.consumer != info.delivered.consumer_seq:
            return None  # delivered but not yet received (or a consumer made anew since)
        self._settled_at = newest
        return through

    async def nothing_to_read(self) -> bool:
        """True when the consumer matched nothing at all (so a bounded read can end at once)."""
        assert self._sub is not None
        info = await self._sub.consumer_info()
        return info.num_pending == 0 and info.delivered.consumer_seq == 0 and not self._queue

    async def drain_to_head(
        self, max_size: int = 1000, stop: Stop | None = None, *, fill_s: float = 0.0
    ) -> AsyncIterator[list[Msg]]:
        """Batches of everything already stored that matches, then stop (earlier, before `stop`'s message).

        With `fill_s`, a batch waits up to that long for more messages until it has `max_size` (or the head).
        """
        if await self.nothing_to_read():
            return
        while True:
            batch = await self.batch(max_size, fill_s, timeout=5.0, until_head=fill_s > 0)
            if not batch:
                if await self._caught_up():
                    return
                continue
            at_head = batch[-1].metadata.num_pending == 0
            if stop is not None:
                cut = next((i for i, msg in enumerate(batch) if stop(msg)), None)
                if cut is not None:
                    batch, at_head = batch[:cut], True
            if self._markers:
                wanted = subject_filter(self.filter_subject)
                kept = [m for m in batch if wanted(m.subject)]
                self._markers -= len(batch) - len(kept)
                batch = kept
            if batch:
                yield batch
            if at_head:
                return

    async def pending(self) -> int:
        """Stored messages matching the filter not yet delivered to us."""
        assert self._sub is not None
        if self._filter_locally:
            after = self._last.metadata.sequence.stream if self._last else (self._start.after_seq or 0)
            return await count_pending(self._js, self.stream, self.filter_subject, after)
        return (await self._sub.consumer_info()).num_pending

    async def catch_up(self, max_size: int = 1000) -> AsyncIterator[list[Msg]]:
        """Batches of whatever arrived since the last read, until the head at this moment."""
        while True:
            if not self._queue and await self._caught_up():
                return
            batch = await self.batch(max_size, 0.0, timeout=1.0)
            if batch:
                yield batch

    async def _caught_up(self) -> bool:
        assert self._sub is not None
        info = await self._sub.consumer_info()
        return info.num_pending == 0 and not self._queue


async def _unsubscribe(sub: object) -> None:
    try:
        await sub.unsubscribe()  # type: ignore[attr-defined]
    except Exception:  # noqa: BLE001 - the connection may already be gone; nothing to save
        pass
