"""Reverts scoped to what they touch: re-fold only the entities the reverted events name.

Handlers are pure and rows are upserted by key, so removing an event changes only the rows it wrote, and a
row depends only on the events that wrote it. A hub's `RevertScope` (projectors/engine/projection.py) says which
tables hold one entity's rows (written only by events on that entity's subject, or by events without a
subject) and which event types write nothing else. Reverting such an event then means, under the hub's
write lock and at the projector's positions (a partitioned hub's: each partition's share up to its own):

1. read the entity's events (and the hub's events without a subject) from each stream, by subject filter
   `{horizon}.{hub}.*.{entity token}` (batched direct gets, bus/direct.py): the work grows with the
   entity's history, not the hub's;
2. fold them without the reverted events, streams in the order a rebuild folds them, and keep only the
   entity's rows of the scoped tables; delete those rows and write the new ones;
3. trim the hub's tail tables (newest rows across entities) and, when the revert removed some of their
   rows, refill them from the log just below the oldest row kept (projectors/reverts/tail.py); then recompute
   the aggregates.

The result equals a rebuild that skips the same events (tests/projectors/test_scoped_revert.py checks it
over random histories, and on a hub of two partitions). Anything the scope cannot vouch for — a hub without
a scope, a reverted type that is not keyed, an event without a subject, a reverted id not found on its
entity's subjects, position rows of two partitionings — re-folds the whole hub as before
(projectors/runner.py: Refold). Tail refills assume that within one stream later sequences carry later
event times (publishers stamp events when they send them).
"""

from __future__ import annotations

import asyncio
import functools
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import sqlalchemy as sa
import structlog
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from prometheus_client import Histogram
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from vsmesh.bus.provenance import decode_stored
from vsmesh.bus.reader import stream_sequence
from vsmesh.bus.subjects import NO_ENTITY, entity_token
from vsmesh.errors import InvalidEvent
from vsmesh.events.governance import REVERT_TYPE
from vsmesh.events.schemas.hub import EventReverted
from vsmesh.projectors.engine import driver
from vsmesh.projectors.engine.batches import fold, lock_hub, state_query
from vsmesh.projectors.engine.changes import Changes
from vsmesh.projectors.engine.partitions import AppliedUpTo, applied_up_to
from vsmesh.projectors.engine.projection import Projection, RevertScope
from vsmesh.projectors.engine.reverted import effective, load_refolded, mark_refolded, reverts_in_log
from vsmesh.projectors.rebuild.build import rebuild
from vsmesh.projectors.reverts.tail import ORDER, read_applied, refill_tail, run_after_batch, tail_state, tail_windows

log = structlog.get_logger(__name__)

ENTITIES, WHOLE_HUB = "entities", "whole hub"
# Process-wide, as Prometheus metrics are (/metrics shows it): where a scoped re-fold's time goes, by phase —
# lock (the hub lock, its positions and reverts, the tails' state), read (the entities' events from the log),
# write (delete, write, refill, aggregates, commit) — and in all (phase "all").
REFOLD_SECONDS = Histogram(
    "vsmesh_revert_refold_seconds", "time to re-fold the entities a revert touched, by phase", ["hub", "phase"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
)  # fmt: skip


def revert_mode(projection: Projection) -> str:
    """How the hub re-folds after a revert, as `vsmesh status` shows it."""
    return ENTITIES if projection.scope is not None else WHOLE_HUB


@dataclass(frozen=True)
class Target:
    """An event whose reverted state changed: itself, or the end of a revert-of-a-revert chain."""

    event_id: str
    type: str | None
    entity: str | None


def targets_of(new: Iterable[str], reverts: Mapping[str, EventReverted]) -> list[Target] | None:
    """The events the new reverts change, following reverts of reverts to the event at the end; None when a
    revert is not in the log (the hub must be re-folded whole)."""
    found = []
    for revert_id in new:
        event = reverts.get(revert_id)
        if event is None:
            return None
        for _ in range(100):  # a revert always follows what it reverts; the bound guards a forged cycle
            if event.data.event_id not in reverts:
                break
            event = reverts[event.data.event_id]
        found.append(Target(event.data.event_id, event.data.event_type, event.data.entity))
    return found


def plan(projection: Projection, targets: Sequence[Target]) -> list[str] | str:
    """The entities to re-fold, or why the whole hub must be."""
    scope = projection.scope
    if scope is None:
        return "its handlers do not declare what they key on"
    if any(not subject.endswith(".>") for subject in projection.streams.values()):
        return "its streams are not filtered by hub"
    for t in targets:
        if t.type not in scope.keyed:
            return f"{t.type} events are not keyed on their entity"
        if not t.entity:
            return f"event {t.event_id} names no entity"
    return sorted({t.entity for t in targets if t.entity})


class _OutOfScope(Exception):
    """A row the scope does not account for: the hub is re-folded whole instead."""


async def refold_entities(
    js: JetStreamContext,
    engine: AsyncEngine,
    projection: Projection,
    entities: Sequence[str],
    ids: set[str],
    phases: dict[str, float] | None = None,
) -> bool:
    """Re-fold `entities` without the hub's reverted events (one transaction, under the hub's lock).

    False, with nothing written, when some of `ids` (the events whose state changed) are not on those
    entities' subjects or a row falls outside the scope: the caller re-folds the hub. `phases` gets the
    seconds spent locking and reading the state, reading the log, and writing (for the log line).
    """
    phases = {} if phases is None else phases
    mark = time.perf_counter()
    scope = projection.scope
    assert scope is not None, "plan() checks that the hub declares a scope"
    wanted = set(entities)
    tokens = sorted({entity_token(e) for e in entities} | {NO_ENTITY})
    async with driver.transaction(engine, projection.schema) as conn:
        await lock_hub(conn, projection.hub)
        rows, reverted = await _state(conn, projection)
        upto = applied_up_to(rows, projection.streams, projection.entity_types)
        if upto is None:
            log.warning("revert re-folds the hub: its positions mix two partitionings", hub=projection.hub)
            return False
        at = upto.head
        tails = {name: await tail_state(conn, projection, name, kept, at) for name, kept in scope.tail.items()}
        phases["lock_s"], mark = round(time.perf_counter() - mark, 3), time.perf_counter()
        # The events just below each full tail are read beside the entities': a revert of a recent event
        # (the usual one) needs them, and reading them afterwards would add a round of reads.
        by_stream, *windows = await asyncio.gather(
            _entity_messages(js, projection, tokens, upto),
            *(tail_windows(js, projection, t.below, upto) for t in tails.values()),
        )
        phases["read_s"], mark = round(time.perf_counter() - mark, 3), time.perf_counter()
        seen = {m.headers.get("Nats-Msg-Id") for msgs in by_stream.values() for m in msgs if m.headers}
        if not ids <= seen:
            log.warning("reverted event not on its entity's subjects", hub=projection.hub, missing=sorted(ids - seen))
            return False
        cutoffs = {name: t.cutoff for name, t in tails.items()}
        try:
            folded = [_entity_rows(scope, wanted, cutoffs, fold(projection, s, m, 0, reverted).changes)
                      for s, m in by_stream.items()]  # fmt: skip
        except _OutOfScope as e:
            log.warning("revert re-folds the hub: a row is out of its scope", hub=projection.hub, reason=str(e))
            return False
        raw, schema = await driver.raw_connection(conn), driver.schema_of(conn)
        await raw.execute(_delete_sql(schema, scope), list(entities))
        for changes in folded:  # stream after stream, as a rebuild folds them: later writes win alike
            if projection.before_write is not None:
                projection.before_write(changes)
            await changes.flush(conn)
        await run_after_batch(conn, projection)
        for (name, tail), window in zip(tails.items(), windows, strict=True):
            if tail.cutoff is not None:  # it was full: rows it lost are refilled from the next older events
                table = projection.metadata.tables[name]
                await refill_tail(js, conn, projection, table, tail, window, reverted, upto)
        for stmt in scope.aggregates():
            await driver.execute(conn, stmt)
        # The positions stay, but readers that key answers on them also read the rows' writing transaction
        # (hubs/ops/service_health.py: read_version): rewritten here, their cached answers expire.
        await raw.execute(f'UPDATE "{schema}"."{projection.positions.name}" SET position = position')
    phases["write_s"] = round(time.perf_counter() - mark, 3)  # the commit included
    return True


async def _state(conn: AsyncConnection, projection: Projection) -> tuple[dict[str, int], frozenset[str]]:
    """The hub's position rows (a partition's named `OPERATIONAL.p0of2`) and reverted ids, in one round trip
    (driver statements: the transaction is asyncpg's)."""
    rows = await driver.fetch(conn, state_query(projection.positions, projection.reverted))
    at = {stream: position for stream, position, _, _ in rows if stream is not None}
    return at, effective((revert_id, event_id) for stream, _, revert_id, event_id in rows if stream is None)


@functools.cache
def _select(table: sa.Table, *columns: str) -> sa.Select:
    return sa.select(*(table.c[c] for c in columns))


def _entity_rows(
    scope: RevertScope, wanted: set[str], cutoffs: Mapping[str, tuple | None], changes: Changes
) -> Changes:
    def keep(table: sa.Table, row: dict) -> bool:
        column = scope.entities.get(table.name)
        if column is None:
            return False  # a table the reverted events do not write: its rows are unchanged
        if column not in row:
            raise _OutOfScope(f"a {table.name} row without its {column} column")
        if row[column] not in wanted:
            return False
        cutoff = cutoffs.get(table.name)
        # An entity's row older than a full tail's oldest would push out newer rows of other entities,
        # which the refill below compares it with.
        return cutoff is None or tuple(row[c] for c in ORDER) >= cutoff

    return changes.only(keep)


async def _entity_messages(
    js: JetStreamContext, projection: Projection, tokens: Sequence[str], upto: AppliedUpTo
) -> dict[str, list[Msg]]:
    """Per stream (in the projection's order), the applied messages on the entities' subjects."""
    reads = {
        (stream, token): read_applied(js, stream, f"{subject[:-1]}*.{token}", 0, upto)
        for stream, subject in projection.streams.items()
        for token in tokens
    }
    results = dict(zip(reads, await asyncio.gather(*reads.values()), strict=True))
    by_stream: dict[str, list[Msg]] = {}
    for stream in projection.streams:
        msgs = [m for token in tokens for m in results[(stream, token)]]
        by_stream[stream] = sorted(msgs, key=stream_sequence)
    return by_stream


def _delete_sql(schema: str, scope: RevertScope) -> str:
    """One statement deleting the entities' rows from every scoped table (names declared in code, not input)."""
    parts = [f'd{i} AS (DELETE FROM "{schema}"."{name}" WHERE "{column}" = ANY($1::text[]))'
             for i, (name, column) in enumerate(scope.entities.items())]  # fmt: skip
    return f"WITH {', '.join(parts)} SELECT 1"


class RevertRefolder:
    """Re-folds a hub after reverts reached it: the entities they touch, or the whole hub when it must."""

    def __init__(self, js: JetStreamContext, engine: AsyncEngine, projection: Projection) -> None:
        self.js, self.engine, self.projection = js, engine, projection
        self.done: set[str] = set()  # revert ids whose effect the hub's tables show
        self.pending: dict[str, EventReverted] = {}  # reverts the live projector applied, not re-folded yet

    def arrived(self, msgs: Iterable[Msg]) -> None:
        """Keep the hub's reverts of a batch the live projector applied: the next re-fold starts from them."""
        marker = f".{self.projection.hub}.{REVERT_TYPE}."
        for msg in msgs:
            if marker not in msg.subject:
                continue
            try:
                event = decode_stored(msg.data, msg.headers, msg.subject)
            except InvalidEvent:
                continue  # the projector quarantined it
            if isinstance(event, EventReverted) and event.hub == self.projection.hub:
                self.pending[event.id] = event

    async def load(self) -> bool:
        """Start from the reverts the hub's tables show (before the projector applies more); True when it
        stored some it has not re-folded yet (its projector stopped in between): `refold` catches up."""
        applied = await self._applied()
        async with self.engine.begin() as conn:
            shown = await load_refolded(conn, self.projection.schema)
            if shown is None:  # a schema from before the record: it shows what it stores; kept from now on
                await mark_refolded(conn, self.projection.schema, applied)
        self.done = applied if shown is None else applied & shown
        return bool(applied - self.done)

    async def _applied(self) -> set[str]:
        async with self.engine.connect() as conn:
            rows = await driver.fetch(await driver.in_schema(conn, self.projection.schema),
                                      _select(self.projection.reverted, "revert_id"))  # fmt: skip
        return {r for (r,) in rows}

    async def _shown(self, revert_ids: set[str]) -> None:
        self.done |= revert_ids
        async with self.engine.begin() as conn:
            await mark_refolded(conn, self.projection.schema, revert_ids)

    async def refold(self) -> str:
        """Re-fold what the reverts applied since the last call changed; says how (entities or whole hub)."""
        started = time.perf_counter()
        pending, self.pending = self.pending, {}
        try:
            return await self._refold(pending, started)
        except BaseException:
            self.pending = {**pending, **self.pending}  # tried again on the next request
            raise

    async def _refold(self, pending: dict[str, EventReverted], started: float) -> str:

        fresh = {i: e for i, e in pending.items() if i not in self.done}
        if fresh and not any(e.data.event_type == REVERT_TYPE for e in fresh.values()):
            # The usual case: reverts of plain events, known from the batch that applied them.
            applied, new, reverts = None, set(fresh), fresh
        else:  # reverts of reverts, or reverts applied one by one: the table and the log say what changed
            applied, logged = await asyncio.gather(self._applied(), reverts_in_log(self.js, self.projection.hub))
            new = applied - self.done
            reverts = {e.id: e for e in logged if isinstance(e, EventReverted)}
        if not new:
            return "nothing"
        bound = log.bind(hub=self.projection.hub, reverts=len(new))
        targets = targets_of(new, reverts)
        how = plan(self.projection, targets) if targets is not None else "a revert is not in the log yet"
        if not isinstance(how, str):
            ids = {t.event_id for t in targets or ()}
            planned, phases = time.perf_counter(), {}
            if await refold_entities(self.js, self.engine, self.projection, how, ids, phases):
                await self._shown(new)
                for phase, seconds in (*phases.items(), ("all_s", time.perf_counter() - started)):
                    REFOLD_SECONDS.labels(self.projection.hub, phase.removesuffix("_s")).observe(seconds)
                bound.info("re-folded entities after a revert", entities=len(how),
                           plan_s=round(planned - started, 3), **phases,
                           seconds=round(time.perf_counter() - started, 3))  # fmt: skip
                return ENTITIES
            how = "the scoped re-fold could not vouch for it"
        applied = applied if applied is not None else await self._applied()  # before: later ones stay new
        # fresh: a leftover staging schema was folded with another set of reverts.
        await rebuild(self.js, self.engine, self.projection, fresh=True)
        await self._shown(applied)
        bound.info("re-folded the hub after a revert", reason=how, seconds=round(time.perf_counter() - started, 3))
        return WHOLE_HUB
