"""Applying a batch: fold events in memory, write rows and the position in one transaction."""

from __future__ import annotations

import dataclasses
import functools
import zlib
from dataclasses import dataclass, field

import sqlalchemy as sa
import structlog
from nats.aio.msg import Msg
from sqlalchemy.dialects import postgresql
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from vsmesh.bus.provenance import decode_stored
from vsmesh.bus.quarantine import Rejected
from vsmesh.bus.reader import stream_sequence
from vsmesh.errors import ConfigError, InvalidEvent
from vsmesh.events.envelope import Event
from vsmesh.events.schemas.hub import EventReverted
from vsmesh.projectors.engine import driver
from vsmesh.projectors.engine.changes import Changes
from vsmesh.projectors.engine.checkpoint import position_sql, position_upsert, read_positions, save_position
from vsmesh.projectors.engine.driver import in_schema
from vsmesh.projectors.engine.partitions import hub_positions, own_positions
from vsmesh.projectors.engine.projection import Applied, Handler, Projection
from vsmesh.projectors.engine.reverted import effective, record
from vsmesh.projectors.engine.source import decode
from vsmesh.projectors.engine.supersede import Plan, aside_to_fold, plan

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class BatchResult:
    applied: int
    skipped: int
    position: int
    rejected: list[Rejected] = field(default_factory=list)  # invalid messages, for the quarantine
    reverts: int = 0  # the hub's event-reverted events in the batch: the live projector then rebuilds
    known: Known | None = None  # the stream's state once this batch is committed, when it can be known


@dataclass(frozen=True)
class Known:
    """What a live projector knows of its stream between two of its batches, so that the next need not read it:
    its position and the hub's reverted ids (with how many rows the reverts table held).

    Only a guess: another writer may have moved them since (a rebuild's swap, another lease holder, another
    stream's batch that stored a revert). A batch that uses it checks it first, in its transaction and under
    the hub's lock (`guard_sql`), and is redone from what is stored when it does not hold.
    """

    after: int
    reverted: frozenset[str]
    reverts_stored: int


STALE = "VSM01"  # the SQLSTATE of a failed guard


def hub_lock_key(hub: str) -> int:
    """The advisory-lock key that serialises every writer of one hub (live projector, rebuild swap)."""
    return zlib.crc32(hub.encode())


async def ensure_schema(engine: AsyncEngine, projection: Projection, schema: str) -> None:
    """Create the hub's schema and tables when missing."""
    async with engine.begin() as conn:
        # Processes starting side by side (a hub's partitions) would race on the catalog: they take turns.
        await conn.execute(sa.select(sa.func.pg_advisory_xact_lock(hub_lock_key(f"schema:{schema}"))))
        await conn.execute(sa.text(f'CREATE SCHEMA IF NOT EXISTS "{schema}"'))
        await conn.run_sync(
            lambda sync: projection.metadata.create_all(
                sync.execution_options(schema_translate_map={None: schema}), checkfirst=True
            )
        )
        with_statistics = (await conn.execute(_JSONB_WITH_STATISTICS, {"schema": schema})).all()
        for table, column in with_statistics:
            await conn.execute(sa.text(_statistics_off(schema, table, column)))


async def create_schema(engine: AsyncEngine, projection: Projection, schema: str) -> None:
    """Drop `schema` if it exists and make it anew with the hub's tables, in one transaction and one round
    trip: a rebuild's staging schema, which nobody else makes (ensure_schema asks the catalog about each table
    first and sends each statement apart, a third of a rebuild's fixed cost; docs/performance.md §Rebuild)."""
    statements = [f'DROP SCHEMA IF EXISTS "{schema}" CASCADE', f'CREATE SCHEMA "{schema}"']
    dialect = engine.dialect

    def add(ddl: sa.schema.ExecutableDDLElement, *_: object, **__: object) -> None:
        statements.append(str(ddl.compile(dialect=dialect, schema_translate_map={None: schema},
                                          render_schema_translate=True)))  # fmt: skip

    projection.metadata.create_all(sa.create_mock_engine(engine.url, add), checkfirst=False)
    statements += [_statistics_off(schema, table.name, column.name) for table, column in _jsonb_columns(projection)]
    async with engine.begin() as conn:
        raw = await driver.raw_connection(conn)
        with driver.sqlalchemy_errors("CREATE SCHEMA"):
            await raw.execute(";\n".join(statements))


# JSONB columns hold what an event carried (details, observations, tags). No read sorts on them, and those that
# look inside go through functions the column's statistics do not inform (jsonb_typeof) or small tables, while
# gathering them was most of a rebuild's ANALYZE: their histogram sorts every sampled document
# (docs/performance.md §Rebuild).
def _jsonb_columns(projection: Projection) -> list[tuple[sa.Table, sa.Column]]:
    return [
        (t, c) for t in projection.metadata.sorted_tables for c in t.columns if isinstance(c.type, postgresql.JSONB)
    ]


def _statistics_off(schema: str, table: str, column: str) -> str:
    return f'ALTER TABLE "{schema}"."{table}" ALTER COLUMN "{column}" SET STATISTICS 0'


_JSONB_WITH_STATISTICS = sa.text(
    "SELECT c.relname, a.attname FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid "
    "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = :schema AND c.relkind = 'r' "
    "AND a.atttypid = 'jsonb'::regtype AND NOT a.attisdropped AND a.attstattarget IS DISTINCT FROM 0"
)


async def positions(engine: AsyncEngine, projection: Projection, schema: str) -> dict[str, int]:
    """How far the projector got per stream: a partition's own, or the whole hub's (its slowest partition's)."""
    async with engine.connect() as conn:
        rows = await read_positions(await in_schema(conn, schema), projection.positions)
    if projection.partition is not None:
        return own_positions(rows, projection.streams, projection.partition)
    return hub_positions(rows)


@dataclass
class Folded:
    """One batch folded in memory, ready to be written with its position."""

    stream: str
    changes: Changes
    last: int  # the batch's last stream sequence: the position once written
    messages: int = 0
    applied: int = 0
    skipped: int = 0
    rejected: list[Rejected] = field(default_factory=list)
    reverts: int = 0


class _Poisoned(Exception):
    def __init__(self, sequence: int, reason: str) -> None:
        super().__init__(reason)
        self.sequence = sequence
        self.reason = reason


def fold(
    projection: Projection,
    stream: str,
    msgs: list[Msg],
    after: int,
    reverted: frozenset[str] = frozenset(),
    *,
    supersede: bool = False,
) -> Folded:
    """Fold the messages past `after` into changes (no I/O); invalid ones are listed for the quarantine.

    The hub's event-reverted events are recorded in its reverts table; events whose id is in `reverted`
    are skipped (projectors/engine/reverted.py). A handler that raises leaves its changes half-done, so the
    batch is folded again without that event (handlers are pure: a second fold is the same fold).
    With `supersede` (a rebuild), events a newer one of their subject overwrites are not decoded where the
    projection declares it (projectors/engine/supersede.py).
    """
    poisoned: dict[int, str] = {}
    while True:
        try:
            return _Fold(projection, stream, reverted, poisoned).run(msgs, after, supersede)
        except _Poisoned as p:
            poisoned[p.sequence] = p.reason


class _Fold:
    """One attempt at folding a batch."""

    def __init__(self, projection: Projection, stream: str, reverted: frozenset[str], poisoned: dict[int, str]) -> None:
        self.projection, self.stream, self.reverted, self.poisoned = projection, stream, reverted, poisoned
        self.handlers: dict[type, Handler | None] = {}  # this batch's lookups: a few classes, thousands of events

    def run(self, msgs: list[Msg], after: int, supersede: bool) -> Folded:
        projection = self.projection
        folded = self.folded = Folded(self.stream, Changes(), max(after, stream_sequence(msgs[-1])) if msgs else after)
        keeps = projection.keeps  # a partition folds its share only (projectors/engine/partitions.py)
        ours = msgs if keeps is None else [m for m in msgs if keeps(m.subject)]
        planned = None
        if supersede and projection.superseded is not None:
            planned = plan(projection, ours, after, self.reverted, self.poisoned)
            ours = planned.kept
        decoded = decode(ours, after=after, known=planned.known if planned else None)  # (projectors/engine/source.py)
        folded.rejected += decoded.rejected
        applied = 0
        apply, changes = self.apply, folded.changes
        for seq, msg, event in decoded.events:
            applied += apply(seq, msg, event, changes)
        folded.messages = len(decoded.events) + len(decoded.rejected)
        folded.applied, folded.skipped = applied, len(decoded.events) - applied + len(decoded.rejected)
        if planned is not None and planned.aside:
            self.fold_aside(planned)
        return folded

    def apply(self, seq: int, msg: Msg, event: Event, changes: Changes) -> bool:
        """Fold one event into `changes`; False when it is skipped (poisoned, reverted, no handler)."""
        projection = self.projection
        if self.poisoned and seq in self.poisoned:
            self.folded.rejected.append(Rejected(msg, self.poisoned[seq], event_id=event.id))
            return False
        event_class = type(event)
        if event_class is EventReverted and event.hub == projection.hub:
            record(projection.reverted, event, changes)
            self.folded.reverts += 1
        if self.reverted and event.id in self.reverted:
            return False
        handler = self.handlers.get(event_class, _UNKNOWN)
        if handler is _UNKNOWN:
            handler = self.handlers[event_class] = projection.handler_for(event_class)
        if handler is None:
            return False
        try:
            handler(event, _applied(Applied, (self.stream, seq)), changes)
        except Exception as e:  # noqa: BLE001 - a poison event goes to the quarantine; the batch goes on
            hub, stream = projection.hub, self.stream
            reason = f"{event.type} handler of {hub} failed: {type(e).__name__}: {e}"
            log.warning("event rejected by its handler", hub=hub, stream=stream, sequence=seq,
                        event_id=event.id, reason=reason)  # fmt: skip
            raise _Poisoned(seq, reason) from e
        return True

    def fold_aside(self, planned: Plan) -> None:
        """Count the superseded events as applied; fold those whose newest-rows row could be kept, that row only."""
        folded, tail = self.folded, self.projection.superseded.tail  # type: ignore[union-attr]
        folded.messages += len(planned.aside)
        folded.applied += len(planned.aside)
        if tail is None:
            return
        for seq, msg in aside_to_fold(planned, folded.changes, tail, self.stream):
            try:
                event = decode_stored(msg.data, msg.headers, msg.subject)
            except InvalidEvent as e:
                folded.rejected.append(Rejected(msg, str(e)))
                folded.applied, folded.skipped = folded.applied - 1, folded.skipped + 1
                continue
            own = Changes()  # its other rows are overwritten by a newer event's: only the tail row is taken
            if not self.apply(seq, msg, event, own):
                folded.applied, folded.skipped = folded.applied - 1, folded.skipped + 1
            if not own.newest_only(tail):
                raise ConfigError(
                    f"{self.projection.hub} declares {event.type} superseded, but its handler writes rows other "
                    f"than upserts and {tail.name}'s newest: take the type out of its projection's `superseded`"
                )
            folded.changes.adopt_newest(own, tail)


_UNKNOWN = object()
_applied = tuple.__new__  # Applied(stream, seq) without NamedTuple's Python-level __new__ (one per event)


async def lock_hub(conn: AsyncConnection, hub: str, *, wait_for_flush: bool = True) -> None:
    """Take the hub's write lock until the transaction ends.

    With `wait_for_flush=False` the commit returns before PostgreSQL has flushed it to disk. A live batch
    can: its rows are derived from the log and commit with their position, so a crash that loses the commit
    loses both and the projector applies those events again, and waiting for the flush was a good part of the
    live tail (docs/performance.md §Live path). In the same statement: one round trip.
    """
    await driver.execute(conn, _lock_statement(hub, wait_for_flush))


@functools.cache
def _lock_statement(hub: str, wait_for_flush: bool) -> sa.Select:
    lock = sa.func.pg_advisory_xact_lock(hub_lock_key(hub))
    if wait_for_flush:
        return sa.select(lock)
    return sa.select(lock, sa.func.set_config("synchronous_commit", "off", True))


async def lock_partition(conn: AsyncConnection, projection: Projection) -> None:
    """A partition's batch: the hub lock shared (partitions write side by side; a swap, which takes it alone,
    waits for them and they for it) and its own partition's alone (two holders of one partition take turns)."""
    assert projection.partition is not None
    await driver.execute(conn, _partition_lock_statement(projection.hub, projection.partition.position_row("")))


@functools.cache
def _partition_lock_statement(hub: str, partition: str) -> sa.Select:
    return sa.select(
        sa.func.pg_advisory_xact_lock_shared(hub_lock_key(hub)),
        sa.func.pg_advisory_xact_lock(hub_lock_key(f"{hub}{partition}")),
        sa.func.set_config("synchronous_commit", "off", True),  # as a live batch of a single projector (lock_hub)
    )


def live_lock_sql(projection: Projection) -> str:
    """The lock a live batch takes (`lock_hub` without the flush, or `lock_partition`), as literal SQL to go with
    its BEGIN (driver.few_trips)."""
    if projection.partition is not None:
        stmt = _partition_lock_statement(projection.hub, projection.partition.position_row(""))
    else:
        stmt = _lock_statement(projection.hub, False)
    sql = driver.literal(stmt, _DIALECT)
    assert sql is not None, "a lock statement holds integers and strings only"
    return sql


_DIALECT = postgresql.dialect()


@functools.cache
def _aggregate_lock(hub: str) -> sa.Select:
    return sa.select(sa.func.pg_advisory_xact_lock(hub_lock_key(f"{hub}:aggregates")))


async def apply_batch(
    conn: AsyncConnection,
    projection: Projection,
    stream: str,
    msgs: list[Msg],
    *,
    lock: bool = True,
    at_commit: list[str] | None = None,
) -> BatchResult:
    """Apply one batch inside the caller's transaction; the hub lock makes concurrent writers take turns.

    With `lock`, the batch is a live one: its commit does not wait for the WAL flush (see lock_hub). A
    caller that holds the lock already (a rebuild's swap, a live batch that took it with its BEGIN) passes
    `lock=False` and keeps its own commit. `at_commit`: see write_folded.
    """
    if lock and projection.partition is not None:
        await lock_partition(conn, projection)
    elif lock:
        await lock_hub(conn, projection.hub, wait_for_flush=False)
    state = await _read_state(conn, projection, stream)
    folded = fold(projection, stream, msgs, state.after, state.reverted)
    if folded.last <= state.after:
        return BatchResult(0, 0, state.after, known=state if state.exact else None)
    result = await write_folded(conn, projection, folded, at_commit=at_commit)
    return _with_known(result, folded, state.reverted, state.reverts_stored)


def _with_known(result: BatchResult, folded: Folded, reverted: frozenset[str], reverts_stored: int) -> BatchResult:
    """`result` with the state its commit leaves; unknown when the batch stored reverts (the table's new count
    is PostgreSQL's to say: a revert applied again is not a new row)."""
    if folded.reverts:
        return result
    return dataclasses.replace(result, known=Known(folded.last, reverted, reverts_stored))


async def settle(engine: AsyncEngine, projection: Projection, stream: str, at: int) -> int:
    """Move a partition's position on `stream` up to `at` (it has applied all of its share up to there while
    the other partitions' events went on); its position after."""
    async with driver.transaction(engine, projection.schema) as conn:
        await lock_partition(conn, projection)
        after = (await _read_state(conn, projection, stream)).after
        if at <= after:
            return after
        await save_position(conn, projection.positions, projection.position_row(stream), at)
    return at


@dataclass(frozen=True)
class _State(Known):
    exact: bool  # the position was read from the stream's own row (not a new partition's start, nor 0)


async def _read_state(conn: AsyncConnection, projection: Projection, stream: str) -> _State:
    """The stream's position and the hub's reverted ids, in one round trip."""
    rows = await driver.fetch(conn, state_query(projection.positions, projection.reverted))
    at = {name: position for name, position, _, _ in rows if name is not None}
    row = projection.position_row(stream)
    after = at.get(row, at.get(stream, 0))  # a new partition starts at the plain row
    pairs = [(revert_id, event_id) for name, _, revert_id, event_id in rows if name is None]
    return _State(after, effective(pairs), len(pairs), row in at)


def guard_sql(schema: str, projection: Projection, stream: str, known: Known) -> str:
    """A statement that fails with SQLSTATE `STALE` unless the stream's stored position and the count of the hub's
    reverts are what `known` says (reverts are only ever added, except by a rebuild, whose swap also moves the
    position or leaves tables equal to what this projector would write)."""
    moved = _moved(schema, projection, stream, str(int(known.after)), str(int(known.reverts_stored)))
    return f"DO $guard$ BEGIN IF {moved} THEN {_RAISE_STALE}; END IF; END $guard$"


def _moved(schema: str, projection: Projection, stream: str, known_position: str, known_reverts: str) -> str:
    """The condition under which the guard fails (`known_position` and `known_reverts`: SQL expressions)."""
    row = projection.position_row(stream).replace("'", "''")
    positions, reverted = f'"{schema}"."{projection.positions.name}"', f'"{schema}"."{projection.reverted.name}"'
    return (
        f"coalesce((SELECT position FROM {positions} WHERE stream = '{row}'), -1) <> {known_position} "
        f"OR (SELECT count(*) FROM {reverted}) <> {known_reverts}"
    )


_RAISE_STALE = f"RAISE EXCEPTION 'the live state moved' USING ERRCODE = '{STALE}'"


def is_stale(e: BaseException) -> bool:
    """Whether `e` is a failed `guard_sql`."""
    return isinstance(e, sa.exc.DBAPIError) and getattr(e.orig, "sqlstate", None) == STALE


def _after_rows(projection: Projection) -> list[sa.Executable]:
    """The hub's statements after a batch's rows (a partition's with the aggregate lock first)."""
    statements = projection.after_batch()
    if statements and projection.partition is not None:
        # Cross-entity statements (ops' recent-events trim) of two partitions would see neither's rows and
        # could deadlock: they take turns, for the end of the transaction only (projectors/engine/partitions.py).
        statements = [_aggregate_lock(projection.hub), *statements]
    return statements


def _literals(conn: AsyncConnection, statements: list[sa.Executable]) -> list[str] | None:
    """The statements as literal SQL, or None when one cannot be written so (then all run as they are, in order)."""
    dialect, schema = conn.dialect, driver.schema_of(conn)
    found = [driver.literal(stmt, dialect, schema) for stmt in statements]
    return None if None in found else found  # type: ignore[return-value]


@functools.cache
def state_query(positions: sa.Table, reverted: sa.Table) -> sa.CompoundSelect:
    """Positions (stream, position) and reverted ids (revert_id, event_id) in one statement."""
    none = sa.null()
    return sa.union_all(
        sa.select(positions.c.stream, positions.c.position, sa.cast(none, sa.Text), sa.cast(none, sa.Text)),
        sa.select(sa.cast(none, sa.Text), sa.cast(none, sa.BigInteger), reverted.c.revert_id, reverted.c.event_id),
    )


async def write_folded(
    conn: AsyncConnection, projection: Projection, folded: Folded, *, at_commit: list[str] | None = None
) -> BatchResult:
    """Write a folded batch: its rows, the hub's after-batch statements and the new position, in the caller's
    transaction. With `at_commit` (a live batch's, driver.few_trips), the statements after the rows and the
    position are put there as literal SQL instead, to run in the message that commits."""
    if projection.before_write is not None:
        projection.before_write(folded.changes)
    return await _write_rows(conn, projection, folded, at_commit)


async def _write_rows(
    conn: AsyncConnection, projection: Projection, folded: Folded, at_commit: list[str] | None
) -> BatchResult:
    await folded.changes.flush(conn)
    statements = _after_rows(projection)
    row = projection.position_row(folded.stream)
    later = _literals(conn, statements) if at_commit is not None else None
    if at_commit is not None and later is not None:
        at_commit += [*later, position_sql(driver.schema_of(conn) or "public", projection.positions, row, folded.last)]
    else:
        for stmt in statements:
            await driver.execute(conn, stmt)
        await save_position(conn, projection.positions, row, folded.last)
    return BatchResult(folded.applied, folded.skipped, folded.last, folded.rejected, folded.reverts)


async def write_known(
    engine: AsyncEngine, projection: Projection, folded: Folded, known: Known, held: driver.Held | None = None
) -> BatchResult:
    """Write a batch folded from `known` (not read in its transaction): the lock, the guard that `known` still
    holds, the rows, the hub's after-batch statements, the position and COMMIT, in one round trip where every
    statement can be written as literal SQL (driver.one_trip), else the rows apart (driver.few_trips). On
    `held` (a live follower's own connection), the lock and guard and what follows the rows are two calls of
    functions made once on it (`live_functions`).

    Raises what `guard_sql` raises (see `is_stale`) when another writer moved the state: nothing is written.
    """
    if projection.before_write is not None:
        projection.before_write(folded.changes)
    schema = projection.schema
    row = projection.position_row(folded.stream)
    calls = await _held_calls(held, projection, folded, known) if held is not None else None

    def begin() -> list[str]:
        return [live_lock_sql(projection), guard_sql(schema, projection, folded.stream, known)]

    def statements(conn: AsyncConnection) -> list[str] | None:
        rows = folded.changes.literal(conn)
        if rows is None:
            return None
        if calls is not None:
            return [calls[0], *rows, calls[1]]
        after = _literals(conn, _after_rows(projection))
        if after is None:
            return None
        return [*begin(), *rows, *after, position_sql(schema, projection.positions, row, folded.last)]

    label = f"live batch of {projection.hub} through {folded.last}"
    if await driver.one_trip(engine, schema, statements, label, held if calls is not None else None):
        result = BatchResult(folded.applied, folded.skipped, folded.last, folded.rejected, folded.reverts)
    else:
        async with driver.few_trips(engine, schema, "; ".join(begin())) as (conn, at_commit):
            result = await _write_rows(conn, projection, folded, at_commit)
    return _with_known(result, folded, known.reverted, known.reverts_stored)


async def _held_calls(
    held: driver.Held, projection: Projection, folded: Folded, known: Known
) -> tuple[str, str] | None:
    """The two calls a batch on `held` makes (before its rows, after them), or None where the hub's after-batch
    statements cannot be written as literal SQL."""
    stream = folded.stream
    names = await held.functions(projection.schema, stream, lambda conn: live_functions(conn, projection, stream))
    if names is None:
        return None
    begin, end = names
    return f"SELECT {begin}({int(known.after)}, {int(known.reverts_stored)})", f"SELECT {end}({int(folded.last)})"


def live_functions(conn: AsyncConnection, projection: Projection, stream: str) -> list[tuple[str, str]] | None:
    """The parameters and PL/pgSQL bodies of a known batch's two calls on a held connection: the lock and the
    guard (given the known position and count of reverts, as `guard_sql`), then the hub's after-batch statements
    and the position (given the new one). None when an after-batch statement cannot be written as literal SQL."""
    schema = driver.schema_of(conn) or "public"
    after = _literals(conn, _after_rows(projection))
    if after is None:
        return None
    guard = f"IF {_moved(schema, projection, stream, 'known_position', 'known_reverts')} THEN {_RAISE_STALE}; END IF;"
    position = position_upsert(schema, projection.positions, projection.position_row(stream), "new_position")
    return [
        ("known_position bigint, known_reverts bigint", f"{_performed(live_lock_sql(projection))}; {guard}"),
        ("new_position bigint", " ".join([*(f"{_performed(sql)};" for sql in after), f"{position};"])),
    ]


def _performed(sql: str) -> str:
    """A statement as PL/pgSQL runs it: a SELECT whose rows are not wanted is a PERFORM."""
    return "PERFORM " + sql[len("SELECT ") :] if sql.startswith("SELECT ") else sql
