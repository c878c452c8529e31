"""Split streams: a hub's events of one horizon stream, sourced by the server into N partitions' subjects.

A consumer filter cannot hash, so a partition that reads the horizon stream reads every event of its hub and
drops the others' share. A split stream is a second copy of the hub's events of one horizon stream that the
server keeps up to date (a JetStream source) and, on the way in, stores under a subject naming each event's
partition: the `partition(N, k)` subject-transform function, FNV-1a of the entity token modulo N
(projectors/engine/partitions.py computes the same). A partition's consumer then filters on its own
partition's subjects and reads only its share.

    operational.ops-hub.ops-health-checked.service:gitea
      -> split.ops-hub.operational.2.1.ops-health-checked   (partition 1 of 2)

The stored subject changes; the original one and the horizon stream's sequence travel in the
`Nats-Stream-Source` header the server adds (`OPERATIONAL 1234 <filter> <transform> <subject> <hash>`), and
`origin` reads them back, so positions, provenance and handlers keep seeing the horizon stream. The entity
is left out of the stored subject on purpose: a consumer's wildcard filter costs the server per distinct
subject of the stream, and with one subject per entity a partition read a few thousand events a second
(docs/performance.md §Partitions); without, the split stream has a handful of subjects per partition.

A consumer filtering the split stream still walks all of it: with the list of subjects a partition needs (its
share, the others' reverts, and for partition 0 the others' thread types) nats-server spent twice what it
spends reading the horizon stream whole (docs/performance.md §Partitions). So each partition also has a stream
of its own (`Share.name`): a mirror of the split stream keeping only those subjects, which a replay reads
from end to end with no filter. A mirror keeps the split stream's sequences (the others' events leave gaps)
and the messages as stored, `Nats-Stream-Source` included, so a partition reads it as it reads the split.
A live partition still follows the split stream with its filters: a new event costs the server one match
there, not a walk, and an idle partition's position (`StreamReader.settled`) follows the split stream's last
sequence, which a mirror's does not (it stops at the last message the mirror keeps).

Why a sourced copy rather than a transform on the horizon stream itself: a stream's subject transform
rewrites the stored subject of every event for every reader (provenance compares it with the envelope, and
every filter in the mesh names four tokens); a split stream changes nothing for anyone else, at the price of
a second copy of the hub's share of that stream, and with the partitions' own streams a third, kept as long
as the horizon keeps it.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import structlog
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import (
    DiscardPolicy,
    RetentionPolicy,
    StorageType,
    StreamConfig,
    StreamSource,
    SubjectTransform,
)
from nats.js.errors import BadRequestError, NotFoundError

from vsmesh.bus.nats_internals import SOURCE_HEADER
from vsmesh.bus.streams import patiently, stream_info
from vsmesh.errors import ConfigError

log = structlog.get_logger(__name__)

# The server refuses a shorter window. A split stream must not drop what the horizon stream kept (it holds
# its own duplicates out already); the window only matters for one event id stored twice 100 ms apart.
_DUPLICATE_WINDOW_S = 0.1


@dataclass(frozen=True)
class Split:
    """The split of one hub's events on one horizon stream into `count` partitions."""

    origin: str  # the horizon stream, e.g. OPERATIONAL
    horizon: str  # its subjects' first token, e.g. operational
    hub: str  # the hub whose subjects it copies (a projection may read another hub's: tests do)
    count: int

    @classmethod
    def of(cls, origin: str, filter_subject: str, count: int) -> Split | None:
        """The split of a hub's filter `{horizon}.{hub}.>` (None for any other filter: it is not split)."""
        tokens = filter_subject.split(".")
        if len(tokens) != 3 or tokens[2] != ">" or "*" in tokens[:2] or count < 2:
            return None
        return cls(origin, tokens[0], tokens[1], count)

    @property
    def name(self) -> str:
        return f"SPLIT_{self.origin}_{self.hub}_{self.count}"

    @property
    def prefix(self) -> str:
        return f"split.{self.hub}.{self.horizon}.{self.count}"

    def subject(self, partition: int | str, event_type: str = "*") -> str:
        """Where the server stores the events of `partition` and type (`*`: any)."""
        return f"{self.prefix}.{partition}.{event_type}"

    def share(self, index: int) -> str:
        """Every event the server put in partition `index`."""
        return f"{self.prefix}.{index}.>"

    def config(self, origin: StreamConfig) -> StreamConfig:
        """The split stream's config: sourced from the horizon stream, kept as long as it keeps events."""
        transform = SubjectTransform(
            src=f"{self.horizon}.{self.hub}.*.*",
            dest=f"{self.prefix}.{{{{partition({self.count},2)}}}}.{{{{wildcard(1)}}}}",
        )
        return _kept_like(
            origin,
            name=self.name,
            description=f"{self.hub}'s events of {self.origin} split into {self.count} partitions by entity",
            subjects=[],
            sources=[StreamSource(name=self.origin, subject_transforms=[transform])],
            duplicate_window=_DUPLICATE_WINDOW_S,
        )


@dataclass(frozen=True)
class Share:
    """What partition `index` reads of a split stream: the split, and the subjects its consumer filters on."""

    split: Split
    index: int
    filters: tuple[str, ...]

    @property
    def name(self) -> str:
        """The partition's own stream: the split's events on `filters`. Named by them too, so projections of one
        hub that declare other types (a new version) never share one; a replaced one is left to its owner."""
        digest = hashlib.sha256("\n".join(self.filters).encode()).hexdigest()[:8]
        return f"{self.split.name}_P{self.index}_{digest}"

    def config(self, origin: StreamConfig) -> StreamConfig:
        """The partition's stream: a mirror of the split stream keeping only this share's subjects, kept as
        long as the horizon stream `origin` keeps events."""
        keep = [SubjectTransform(src=subject, dest=subject) for subject in self.filters]
        return _kept_like(
            origin,
            name=self.name,
            description=f"partition {self.index} of {self.split.name}: its share and the reverts and threads it folds",
            mirror=StreamSource(name=self.split.name, subject_transforms=keep),
        )


def _kept_like(origin: StreamConfig, **config: Any) -> StreamConfig:
    """A copy of a horizon stream's events: kept as long as `origin` keeps them, with as many replicas."""
    return StreamConfig(
        retention=RetentionPolicy.LIMITS,
        storage=StorageType.FILE,
        max_age=origin.max_age,
        max_msg_size=origin.max_msg_size,
        num_replicas=origin.num_replicas,
        discard=DiscardPolicy.OLD,
        allow_direct=True,
        **config,
    )


def origin(msg: Msg) -> tuple[int, str]:
    """The horizon stream's sequence and subject of a message read from a split stream."""
    try:
        _, seq, _, _, subject, _ = msg.headers[SOURCE_HEADER].split(" ", 5)  # type: ignore[index]
        return int(seq), subject
    except (TypeError, KeyError, ValueError):
        raise ConfigError(
            f"{msg.subject} carries no readable {SOURCE_HEADER} header: it was not stored by a split stream's "
            "source; delete the stream (`nats stream rm`) and let `vsmesh up` make it again"
        ) from None


async def ensure_split(js: JetStreamContext, split: Split) -> None:
    """Create the split stream when missing (partitions starting side by side may race: both succeed), or
    bring its retention in line with the horizon stream's."""
    await _ensure(js, split.config((await stream_info(js, split.origin)).config), "split stream", hub=split.hub,
                  origin=split.origin, partitions=split.count)  # fmt: skip


async def ensure_share(js: JetStreamContext, share: Share) -> None:
    """Create the split stream and the partition's own stream when missing, or bring their retention in line
    with the horizon stream's."""
    await ensure_split(js, share.split)
    wanted = share.config((await stream_info(js, share.split.origin)).config)
    await _ensure(js, wanted, "partition stream", split=share.split.name, filters=share.filters)


async def _ensure(js: JetStreamContext, wanted: StreamConfig, what: str, **context: Any) -> None:
    try:
        current = (await stream_info(js, wanted.name or "", patience=10.0)).config
    except NotFoundError:
        try:
            await patiently(lambda: js.add_stream(wanted), f"create {wanted.name}")
            log.info(f"{what} created", stream=wanted.name, **context)
        except BadRequestError:  # another process made it meanwhile
            pass
        return
    if current.max_age != wanted.max_age or current.max_msg_size != wanted.max_msg_size:
        await js.update_stream(wanted)
        log.info(f"{what} reconciled", stream=wanted.name, max_age=wanted.max_age)


async def wait_share(
    js: JetStreamContext,
    share: Share,
    *,
    timeout: float = 600.0,
    progress: Callable[[int, int], None] = lambda done, total: None,
) -> None:
    """Wait until the partition's stream holds its share of every event of the hub that the horizon stream had
    stored before this call: the split stream has it, and the mirror holds the split's last message on any
    of the share's subjects (a mirror's last sequence stops at the last message it keeps)."""
    await wait_sourced(js, share.split, timeout=timeout, progress=progress)

    async def last_on(subject: str) -> int:
        try:
            return (await js.get_msg(share.split.name, subject=subject)).seq or 0
        except NotFoundError:
            return 0  # nothing on that subject

    # Asked side by side: partition 0 names every thread type, and one by one they held up the rebuild's start.
    wanted = max(await asyncio.gather(*(last_on(subject) for subject in share.filters)))
    deadline = time.monotonic() + timeout
    while (through := (await stream_info(js, share.name)).state.last_seq) < wanted:
        if time.monotonic() > deadline:
            raise ConfigError(
                f"{share.name} mirrored {share.split.name} only up to {through} of {wanted} in {timeout:g} s: check "
                f"`nats stream info {share.name}` for a mirror error, or rebuild with --partitions 1"
            )
        await asyncio.sleep(0.05)


async def sourced_through(js: JetStreamContext, split: Split, last: int | None = None) -> int:
    """The horizon sequence of the split stream's message at `last` (default: its newest); 0 when empty."""
    if last is None:
        last = (await stream_info(js, split.name)).state.last_seq
    if not last:
        return 0
    msg = await js.get_msg(split.name, seq=last)  # the leader answers: no lagging replica (bus/direct.py)
    return origin(msg)[0]  # type: ignore[arg-type]


async def wait_sourced(
    js: JetStreamContext,
    split: Split,
    *,
    timeout: float = 600.0,
    progress: Callable[[int, int], None] = lambda done, total: None,
) -> None:
    """Wait until the split stream holds the hub's last event of the horizon stream stored before this call."""
    try:
        wanted = (await js.get_msg(split.origin, subject=f"{split.horizon}.{split.hub}.>")).seq or 0
    except NotFoundError:
        return  # the hub has no events on this stream
    deadline = time.monotonic() + timeout
    told = time.monotonic()
    while True:
        through = await sourced_through(js, split)
        progress(through, wanted)
        if through >= wanted:
            return
        if time.monotonic() - told > 2.0:  # copying a long history takes a while: say how far it is
            log.info("waiting for the server to split the log", stream=split.name, through=through, wanted=wanted)
            told = time.monotonic()
        if time.monotonic() > deadline:
            raise ConfigError(
                f"{split.name} copied {split.origin} only up to {through} of {wanted} in {timeout:g} s: check "
                f"`nats stream info {split.name}` for a source error, or rebuild with --partitions 1"
            )
        await asyncio.sleep(0.05)


async def split_start(js: JetStreamContext, stream: str, after: int) -> int:
    """The sequence in split stream `stream` (or a partition's mirror of it) of the last event sourced at or
    before horizon sequence `after` (0: none): a partition resuming from its position starts reading right
    after it. A binary search of direct gets."""
    if after <= 0:
        return 0
    info = (await stream_info(js, stream)).state
    low, high = info.first_seq, info.last_seq  # the answer is in [low - 1, high]
    found = low - 1 if low else 0
    while low <= high:
        mid = (low + high) // 2
        try:
            msg = await js.get_msg(stream, seq=mid, next=True)
        except NotFoundError:
            high = mid - 1
            continue
        at, _ = origin(msg)
        if at <= after:
            found, low = msg.seq, msg.seq + 1
        else:
            high = mid - 1
    return found


__all__ = [
    "SOURCE_HEADER",
    "Share",
    "Split",
    "ensure_share",
    "ensure_split",
    "origin",
    "sourced_through",
    "split_start",
    "wait_share",
    "wait_sourced",
]
