"""What a hub declares to the engine: its streams, its tables and one handler per event class."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import NamedTuple

import sqlalchemy as sa

from vsmesh.bus.splits import Share
from vsmesh.errors import ConfigError
from vsmesh.events.envelope import Event
from vsmesh.events.governance import REVERT_TYPE
from vsmesh.projectors.engine.changes import Changes
from vsmesh.projectors.engine.checkpoint import positions_table
from vsmesh.projectors.engine.partitions import Partition, Router, router, share, share_router
from vsmesh.projectors.engine.reverted import reverted_table


class Applied(NamedTuple):
    """Where an event sits in the log, as handlers see it (a tuple: one is made per event)."""

    stream: str
    sequence: int


Handler = Callable[[Event, Applied, Changes], None]
# Keyed by the event's Struct class, so a handler names what it folds in code (a renamed or removed type is
# an import error, not a silently dead string) and the engine dispatches on `type(event)` with no lookup.
Handlers = Mapping[type[Event], Handler]


@dataclass(frozen=True)
class RevertScope:
    """What a hub's handlers key on, so a revert re-folds only the entities it touches
    (projectors/reverts/scoped.py); a hub without one re-folds its whole log after every revert.

    `entities`: table -> the column naming the entity (the CloudEvents subject) each row belongs to. The hub
    promises that every handler writing such a table puts its event's subject there, or, for an event
    without a subject, a name taken from its data (those events are re-read with every entity).
    `keyed`: the event types whose handlers write only these tables: reverting one re-folds its entity;
    reverting any other type re-folds the hub.
    `tail`: tables among `entities` that keep only the hub's newest rows across entities (one row per
    event, with `stream` and `seq` columns, trimmed by the projection's after_batch) -> how many they keep.
    `aggregates`: statements recomputing the hub's cross-entity tables from the entity rows.
    """

    entities: Mapping[str, str]
    keyed: frozenset[str]
    tail: Mapping[str, int] = field(default_factory=dict)
    aggregates: Callable[[], list[sa.Executable]] = field(default=lambda: [])


@dataclass(frozen=True)
class Superseded:
    """Event types whose whole effect the next event of the same type and subject replaces, so that a rebuild
    batch decodes and folds only the newest of each (projectors/engine/supersede.py): a health check is read once per
    service and batch, not once per check.

    The hub promises, for every event of these types that has a subject: its handler writes only `upsert`s of
    the same rows and columns as any other event of its type and subject would, with values from that event
    alone (so the later one overwrites all of it), plus, with `tail`, one `insert_newest` row into that table
    keyed `(event.time, stream, sequence)`; the engine keeps such a row whenever it could be among the newest.
    An event without a subject, of another content mode or schema version, is folded as any other.
    """

    types: frozenset[str]
    tail: sa.Table | None = None


@dataclass
class Projection:
    """A hub's read model: pure handlers folding events into `Changes`; the engine does the I/O."""

    hub: str
    streams: Mapping[str, str]  # stream name -> filter subject
    metadata: sa.MetaData
    handlers: Handlers
    after_batch: Callable[[], list[sa.Executable]] = field(default=lambda: [])
    # Runs on a batch's folded changes before they are written, e.g. to drop rows after_batch would delete.
    before_write: Callable[[Changes], None] | None = None
    # The event types the hub accepts; another type on its subjects is quarantined. None: no check.
    declared: frozenset[str] | None = None
    # The types whose handlers write only rows of the event's own entity, which no other type writes: a
    # partitioned hub spreads them over its partitions by entity (projectors/engine/partitions.py). None: the hub
    # cannot be partitioned.
    entity_types: frozenset[str] | None = None
    # Set on one partition's copy (`for_partition`): which it is, and the subjects it folds.
    partition: Partition | None = None
    keeps: Router | None = None
    # A partition's share of each stream in the stream's split (bus/splits.py); None: it reads the streams.
    shares: Mapping[str, Share] | None = None
    # What its handlers key on, for reverts scoped to the entities they touch; None: whole-hub re-folds.
    scope: RevertScope | None = None
    # The types a rebuild folds only the newest of, per subject and batch; None: every event is folded.
    superseded: Superseded | None = None

    def __post_init__(self) -> None:
        self.positions = positions_table(self.metadata)
        self.reverted = reverted_table(self.metadata)  # the hub's reverts (projectors/engine/reverted.py)

    @property
    def schema(self) -> str:
        return schema_name(self.hub)

    def for_partition(self, partition: Partition, *, split: bool = True) -> Projection:
        """The projector of one partition of this hub (ConfigError when the hub cannot be partitioned). It
        reads its share from the split streams (bus/splits.py) unless `split` is false or a stream's filter
        is not the hub's own subjects: then it reads every event of the hub and folds its share."""
        if not self.entity_types:
            raise ConfigError(
                f"{self.hub} cannot be partitioned: its handlers declare no entity-keyed event types; run it with "
                "--partitions 1"
            )
        whole = dataclasses.replace(self, partition=partition, keeps=router(partition, self.entity_types), shares=None)
        if not split:
            return whole
        threads = self.threads()
        shares = {s: share(partition, s, subject, self.entity_types, threads) for s, subject in self.streams.items()}
        if any(found is None for found in shares.values()):
            return whole
        return dataclasses.replace(whole, keeps=router(partition, self.entity_types, threads), shares=shares)  # type: ignore[arg-type]

    def reading_shares(self) -> Projection:
        """This partition as its replay of its own streams folds (`shares`, every stream from its share; itself
        otherwise): what the server put there is its own, so it hashes nothing again (`share_router`). Only
        for those reads: `keeps` of the partition itself picks its share of a horizon stream's events."""
        if self.partition is None or not self.shares:
            return self
        return dataclasses.replace(self, keeps=share_router(self.partition, self.threads()))

    def threads(self) -> frozenset[str]:
        """The known types that are neither entity-keyed nor reverts: folded on partition 0."""
        return self.known_types() - (self.entity_types or frozenset()) - {REVERT_TYPE}

    def whole(self) -> Projection:
        """The hub's single projector (itself when not a partition)."""
        if self.partition is None:
            return self
        return dataclasses.replace(self, partition=None, keeps=None, shares=None)

    def known_types(self) -> frozenset[str]:
        """The types the hub declares or has a handler for."""
        return frozenset(self.declared or ()) | {event_type_of(c) for c in self.handlers}

    def position_row(self, stream: str) -> str:
        """The name of this projector's position row for `stream`."""
        return stream if self.partition is None else self.partition.position_row(stream)

    def handler_for(self, event_class: type[Event]) -> Handler | None:
        found = self.handlers.get(event_class)
        if found is not None or self.declared is None or event_type_of(event_class) in self.declared:
            return found
        return refuse_undeclared


def event_type_of(event_class: type[Event]) -> str:
    """The type string an event class is stored under (its msgspec tag)."""
    return event_class.__struct_config__.tag


def refuse_undeclared(event: Event, at: Applied, changes: Changes) -> None:
    """The handler of a type the hub does not declare: raising sends the event to the quarantine, with this
    reason, and the batch goes on (engine.fold)."""
    raise ValueError(
        f"{event.type} is not declared by {event.hub}; publish it to the hub that declares it (or declare it), "
        "then `vsmesh quarantine replay`"
    )


def schema_name(hub: str) -> str:
    """A hub's PostgreSQL schema: its slug with `-` as `_`."""
    return hub.replace("-", "_")
