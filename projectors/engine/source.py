"""One event source for projectors and couplings: follow a stream from a position, in batches, decoded.

A projector folds what it reads into its hub's tables; a coupling publishes what its reaction asks for.
Both read the same way, so both get the same guarantees from here: ordered reading from a durable position
(`follow`), decoding with provenance and upcasting (`decode`), the messages that cannot be events set aside
with their reason for the quarantine instead of stalling the reader, the lag (`Batch.lag`), and a retry
that never skips a batch (`retry`). Positions, leases and what a batch does stay with the consumer.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import TypeVar

import structlog
from nats.aio.msg import Msg
from nats.js import JetStreamContext

from vsmesh.bus.provenance import decode_stored
from vsmesh.bus.quarantine import Rejected
from vsmesh.bus.reader import Start, StreamReader, stream_sequence
from vsmesh.bus.splits import Share
from vsmesh.errors import InvalidEvent
from vsmesh.events.envelope import Event

log = structlog.get_logger(__name__)

T = TypeVar("T")


# A decoded event and where it sits in the log: (stream sequence, message, event). A plain tuple: one is
# made per event on the rebuild path, where a NamedTuple's Python-level __new__ costs measurably.
Stored = tuple[int, Msg, Event]


@dataclass
class Decoded:
    """A batch's events past a position, and the messages that are not valid events (with their reason)."""

    events: list[Stored] = field(default_factory=list)
    rejected: list[Rejected] = field(default_factory=list)
    passed: int = 0  # messages of other types, not decoded (a coupling's subject filter may be wider)


def decode(
    msgs: list[Msg],
    *,
    after: int = 0,
    types: frozenset[str] | None = None,
    known: Mapping[int, Event] | None = None,
) -> Decoded:
    """Decode the messages past `after`: structured or binary CloudEvents whose envelope agrees with the
    subject they were stored on (bus/provenance.py). With `types`, other types pass undecoded; `known`:
    events already decoded so, by stream sequence."""
    out = Decoded()
    for msg in msgs:
        seq = stream_sequence(msg)
        if seq <= after:
            continue  # already applied: a replayed or overlapping delivery
        if types is not None and msg.subject.split(".", 3)[2] not in types:
            out.passed += 1
            continue
        if known is not None and (event := known.get(seq)) is not None:
            out.events.append((seq, msg, event))
            continue
        try:
            out.events.append((seq, msg, decode_stored(msg.data, msg.headers, msg.subject)))
        except InvalidEvent as e:
            # Stays in the log untouched; the consumer copies it to the quarantine with its reason.
            out.rejected.append(Rejected(msg, str(e)))
    return out


@dataclass(frozen=True)
class Batch:
    """Messages read together; `lag`: matching messages stored after the batch's last (the reader's backlog).

    A partition reading a split stream also gets empty batches while idle, saying through which sequence
    of the stream it has seen all of its share (`settled`), so its position follows the stream."""

    msgs: list[Msg]
    settled: int = 0

    @property
    def last(self) -> int:
        return stream_sequence(self.msgs[-1]) if self.msgs else self.settled

    @property
    def lag(self) -> int:
        return self.msgs[-1].metadata.num_pending if self.msgs else 0


@dataclass(frozen=True)
class Follow:
    """How a consumer reads: at most `size` messages a batch, waiting up to `wait_s` to fill one behind the
    head (at the head a batch goes at once, for latency), `max_queued` read ahead."""

    size: int
    wait_s: float
    max_queued: int


async def follow(
    js: JetStreamContext,
    stream: str,
    subject: str,
    after: int,
    how: Follow,
    stop: asyncio.Event,
    share: Share | None = None,
) -> AsyncIterator[Batch]:
    """Every batch of `subject` on `stream` stored after sequence `after`, in order, until `stop` is set (with
    `share`, one partition's share of it, and when idle how far it has settled)."""
    reader = StreamReader(js, stream, subject, Start(after_seq=after), max_queued=how.max_queued, share=share)
    async with reader:
        while not stop.is_set():
            msgs = await reader.batch(how.size, how.wait_s, timeout=0.25, until_head=True)
            if msgs:
                after = stream_sequence(msgs[-1])
                yield Batch(msgs)
            elif share is not None and (settled := await reader.settled() or 0) > after:
                after = settled
                yield Batch([], settled)


async def retry(
    work: Callable[[], Awaitable[T]],
    *,
    stop: asyncio.Event,
    transient: tuple[type[BaseException], ...],
    on_error: Callable[[BaseException], Awaitable[None] | None],
    unless: tuple[type[BaseException], ...] = (),
    first_delay: float = 0.2,
    max_delay: float = 5.0,
) -> T | None:
    """Run `work` until it succeeds, backing off after each `transient` error; None once `stop` is set.

    Only transient failures (a server away, a timeout) are retried: the same batch again, never skipped.
    Anything else, and `unless` among the transient kinds, is the caller's to handle (a poison message is
    quarantined, not retried forever).
    """
    delay = first_delay
    while True:
        try:
            return await work()
        except transient as e:
            if isinstance(e, unless):
                raise
            reported = on_error(e)
            if reported is not None:
                await reported
        if stop.is_set():
            return None
        try:
            await asyncio.wait_for(stop.wait(), delay)
            return None
        except TimeoutError:
            delay = min(delay * 2, max_delay)
