"""Partitioned projectors: N projectors share one hub, each folding the events of its share of the entities.

An event's partition is a deterministic hash of its entity token, the last token of its subject
(`{horizon}.{hub}.{type}.{entity}`): FNV-1a (32 bit) modulo N, the hash nats-server's `partition(N, k)`
subject-transform function takes (server/subject_transform.go, `hash/fnv`). The server does the split: a
split stream per hub and horizon stream (bus/splits.py) holds the hub's events under subjects naming their
partition, and each partition's consumer reads its own share there (`share`), an entity's events in log
order. Reading the horizon stream instead (`router`), a partition reads all of the hub's events and folds
its share; a rebuild's partitions catch up that way at the end, and a hub whose filter is not its own
subjects is read so throughout.

Only the event types a hub declares entity-keyed (`Projection.entity_types`: every row their handlers
write belongs to the event's own entity, and no event of another type writes those rows) are spread by
hash. Every other type of the hub goes to partition 0, in log order, as to a single projector: threads
keyed by an opening event's id whose follow-ups may name another subject (risks, alerts, incidents,
capability requests). `event-reverted` reaches every partition, since each must skip what it reverts.

A partition keeps its own position row per stream (`OPERATIONAL.p0of2`); with none yet it starts from the
plain row a single projector (or a rebuild) left. The hub's position is the least of its partitions'.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

from vsmesh.bus.splits import Share, Split
from vsmesh.errors import ConfigError
from vsmesh.events.governance import REVERT_TYPE

_FNV_OFFSET = 0x811C9DC5
_FNV_PRIME = 0x01000193
_ROW = re.compile(r"^(?P<stream>.+)\.p(?P<index>\d+)of(?P<count>\d+)$")
_CACHE_LIMIT = 1 << 17  # subjects remembered per router: hashing an entity token in Python costs ~2 µs


def fnv1a(token: str) -> int:
    """FNV-1a, 32 bit, of the token's UTF-8 bytes."""
    h = _FNV_OFFSET
    for byte in token.encode():
        h = ((h ^ byte) * _FNV_PRIME) & 0xFFFFFFFF
    return h


def partition_of(entity_token: str, count: int) -> int:
    """Which of `count` partitions follows the entity (the same as nats-server's `partition(count, k)`)."""
    return fnv1a(entity_token) % count


@dataclass(frozen=True)
class Partition:
    """Partition `index` of `count` of one hub."""

    index: int
    count: int

    def __post_init__(self) -> None:
        if not 0 <= self.index < self.count:
            raise ConfigError(f"partition {self.index} of {self.count} does not exist; use 0 to {self.count - 1}")

    @property
    def label(self) -> str:
        return f"p{self.index}"

    def position_row(self, stream: str) -> str:
        """The name of this partition's position row for `stream`."""
        return f"{stream}.p{self.index}of{self.count}"

    def lease(self, hub: str) -> str:
        """The lease name (projectors/distribution/lease.py prefixes `projector.`): `projector.<hub>.p<k>`."""
        return f"{hub}.{self.label}"


def check_count(count: int) -> int:
    if count < 1:
        raise ConfigError(f"--partitions {count}: a hub needs at least 1 partition; use 1 (no partitioning) or more")
    return count


Router = Callable[[str], bool]  # true for a message subject this partition folds


def router(partition: Partition, entity_types: frozenset[str], threads: frozenset[str] | None = None) -> Router:
    """The subjects `partition` folds: its hash share of the entity-keyed types, the rest on partition 0.

    With `threads` (the hub's other known types), a type that is neither is folded by any partition that
    reads it: a partition reading its share of a split stream (`share`) is the only one the server gave it
    to, and quarantines it."""
    index, count = partition.index, partition.count

    def keeps(subject: str) -> bool:
        tokens = subject.split(".", 3)
        kind = tokens[2] if len(tokens) > 2 else ""
        if kind not in entity_types:
            return index == 0 or kind == REVERT_TYPE or (threads is not None and kind not in threads)
        return fnv1a(tokens[3] if len(tokens) > 3 else "_") % count == index

    return _per_subject(keeps)


def share_router(partition: Partition, threads: frozenset[str]) -> Router | None:
    """What a partition folds of what it reads from its own streams (`share`); None: all of it. The server
    hashed the entity-keyed events there already, and partition 0's share holds nothing it does not fold, so
    it checks nothing; another leaves to partition 0 the `threads` types the server hashed into its share.
    (`router`'s hash and checks per event were ~4% of a partitioned rebuild's Python: docs/performance.md
    §Partitions.)"""
    if partition.index == 0:
        return None

    def keeps(subject: str) -> bool:
        tokens = subject.split(".", 3)
        return (tokens[2] if len(tokens) > 2 else "") not in threads

    return _per_subject(keeps)


def _per_subject(keeps: Router) -> Router:
    """`keeps`, answered once per subject: a hub's events repeat a few thousand subjects, and one lookup costs
    less than the split and checks for every event a partition reads (docs/performance.md §Partitions)."""
    cache: dict[str, bool] = {}

    def cached(subject: str) -> bool:
        found = cache.get(subject)
        if found is None:
            if len(cache) >= _CACHE_LIMIT:
                cache.clear()
            found = cache[subject] = keeps(subject)
        return found

    return cached


def share(partition: Partition, stream: str, subject: str, entity_types: frozenset[str],
          threads: frozenset[str]) -> Share | None:  # fmt: skip
    """What `partition` reads of the split of `stream` (None: the hub's filter `subject` cannot be split):
    its own share, the others' reverts, and for partition 0 the others' `threads` types as well."""
    split = Split.of(stream, subject, partition.count)
    if split is None:
        return None
    others = [j for j in range(partition.count) if j != partition.index]
    filters = [split.share(partition.index)] + [split.subject(j, REVERT_TYPE) for j in others]
    if partition.index == 0:
        filters += [split.subject(j, kind) for j in others for kind in sorted(threads - {REVERT_TYPE})]
    return Share(split, partition.index, tuple(filters))


def parse_row(name: str) -> tuple[str, Partition | None]:
    """A position row's stream and partition (None: a single projector's row)."""
    found = _ROW.match(name)
    if found is None:
        return name, None
    return found["stream"], Partition(int(found["index"]), int(found["count"]))


def own_positions(rows: Mapping[str, int], streams: Iterable[str], partition: Partition) -> dict[str, int]:
    """A partition's position per stream: its own row, else the plain row (all applied up to there)."""
    out = {}
    for stream in streams:
        at = rows.get(partition.position_row(stream), rows.get(stream))
        if at is not None:
            out[stream] = at
    return out


def hub_positions(rows: Mapping[str, int]) -> dict[str, int]:
    """The hub's position per stream: its slowest partition's when partitions wrote rows (one that has not
    yet written its own is at the plain row), else the plain row. Every partition reads all of the hub's
    messages (folding its share), so each row says how far the hub is applied for that partition's entities."""
    plain: dict[str, int] = {}
    counts: dict[str, set[int]] = {}
    for name, at in rows.items():
        stream, partition = parse_row(name)
        if partition is None:
            plain[stream] = at
        else:
            counts.setdefault(stream, set()).add(partition.count)
    out = dict(plain)
    for stream, found in counts.items():
        out[stream] = min(
            rows.get(Partition(k, n).position_row(stream), plain.get(stream, 0)) for n in found for k in range(n)
        )
    return out


def partitioning_of(rows: Iterable[str]) -> set[int]:
    """The partition counts the position rows were written by (empty: a single projector's)."""
    return {p.count for _, p in map(parse_row, rows) if p is not None}


def needs_rebuild(rows: Iterable[str], partition: Partition | None) -> bool:
    """True when the tables were projected with another partitioning than `partition`'s: the rows of one
    partition of N say nothing of another split, so the hub is rebuilt once (to plain rows) before following."""
    counts = partitioning_of(rows)
    if partition is None:
        return bool(counts)
    return bool(counts - {partition.count})


@dataclass(frozen=True)
class AppliedUpTo:
    """What a hub's projectors have applied of each stream: everything up to one position (a single
    projector), or each partition its share up to its own position. `head`: per stream, the furthest one."""

    head: Mapping[str, int]
    shares: Mapping[str, list[tuple[Router, int]]]  # per stream, each partition's router and position

    def applied(self, stream: str, subject: str, sequence: int) -> bool:
        """Whether the message at `sequence` (stored on `subject`) is applied to the hub's tables."""
        shares = self.shares.get(stream)
        if not shares:
            return sequence <= self.head.get(stream, 0)
        return any(sequence <= at for keeps, at in shares if keeps(subject))


def applied_up_to(
    rows: Mapping[str, int], streams: Iterable[str], entity_types: frozenset[str] | None
) -> AppliedUpTo | None:
    """What the position rows say is applied; None while rows of two partitionings coexist (the hub is
    rebuilt once before partitions follow it, see needs_rebuild) or partition rows name no entity types."""
    counts = partitioning_of(rows)
    if not counts:
        return AppliedUpTo({s: rows.get(s, 0) for s in streams}, {})
    if len(counts) > 1 or not entity_types:
        return None
    (count,) = counts
    parts = [Partition(k, count) for k in range(count)]
    routers = [router(p, entity_types) for p in parts]
    shares = {
        s: [(keeps, rows.get(p.position_row(s), rows.get(s, 0))) for p, keeps in zip(parts, routers, strict=True)]
        for s in streams
    }
    return AppliedUpTo({s: max(at for _, at in shares[s]) for s in streams}, shares)


def partitions_of(entity_types: frozenset[str] | None, count: int) -> list[Partition]:
    """The partitions a hub runs with `count` requested; none (one projector) for 1 or a hub that cannot split."""
    check_count(count)
    if count == 1 or not entity_types:
        return []
    return [Partition(k, count) for k in range(count)]


__all__ = [
    "AppliedUpTo",
    "Partition",
    "Router",
    "applied_up_to",
    "check_count",
    "fnv1a",
    "hub_positions",
    "needs_rebuild",
    "own_positions",
    "parse_row",
    "partition_of",
    "partitioning_of",
    "partitions_of",
    "router",
    "share",
    "share_router",
]
