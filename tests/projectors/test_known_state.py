"""A live batch written from the state the previous batch left: one round trip to PostgreSQL, literal values that
arrive byte for byte, a guard that catches every other writer (then the tables equal a clean rebuild), and a
value PostgreSQL refuses still quarantined alone."""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from decimal import Decimal

import pytest
import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB

from tests.projectors.partition_projection import projection as partition_projection
from tests.projectors.sample import health_events, ledger_seqs, read_all, sample_projection
from tests.projectors.test_partitions import build_events
from tests.projectors.test_scoped_revert import revert_of
from vsmesh.bus.quarantine_store import list_quarantined
from vsmesh.events.envelope import Event
from vsmesh.events.schemas.ops import OpsHealthChecked
from vsmesh.hubs.ops.projector import projection as ops_projection
from vsmesh.hubs.ops.tables import RECENT_EVENTS_KEPT
from vsmesh.projectors.engine import driver
from vsmesh.projectors.engine.batches import ensure_schema, in_schema, positions
from vsmesh.projectors.engine.changes import Changes
from vsmesh.projectors.engine.literals import literal
from vsmesh.projectors.engine.partitions import Partition
from vsmesh.projectors.engine.projection import Applied, Projection
from vsmesh.projectors.engine.stats import ProjectorStats
from vsmesh.projectors.rebuild.build import rebuild
from vsmesh.projectors.rebuild.copies import drop_schema, pit_schema
from vsmesh.projectors.rebuild.diff import diff_schemas
from vsmesh.projectors.runner import _apply, run_projection

OPS = "OPERATIONAL"


@pytest.fixture
def messages(db):
    """The simple-query messages and statements each new pooled connection of `db` sends (asyncpg's own log)."""
    sent: list[str] = []

    @sa.event.listens_for(db.sync_engine, "connect")
    def log_queries(dbapi_connection, _record):
        dbapi_connection.driver_connection.add_query_logger(lambda q: sent.append(q.query))

    return sent


@pytest.fixture(params=["pooled", "held"])
async def held(request, db):
    """Where a batch written from the known state goes: a pooled connection, or a live follower's own one (its
    lock, guard, after-batch statements and position then functions made once on it)."""
    if request.param == "pooled":
        yield None
        return
    own = driver.Held(db)
    yield own
    await own.close()


async def _same_as_rebuild(js, db, projection: Projection) -> None:
    name = f"check-{uuid.uuid4().hex[:6]}"
    await rebuild(js, db, projection, into=name)
    try:
        diff = await diff_schemas(db, projection, projection.schema, pit_schema(name))
        assert diff.identical, [t for t in diff.as_dict()["tables"] if t["added"] or t["removed"] or t["changed"]]
    finally:
        await drop_schema(db, pit_schema(name))


async def _published(bus, db, count: int, **options):
    """A fresh sample projection's tables, and `count` events of its hub as read back from the stream."""
    js, publisher = bus
    projection = sample_projection()
    await ensure_schema(db, projection, projection.schema)
    await publisher.publish_many(health_events(publisher, projection.hub, count, **options))
    return js, projection, await read_all(js, OPS, f"operational.{projection.hub}.>")


async def test_a_batch_after_the_first_is_one_round_trip(bus, db, messages):
    js, projection, msgs = await _published(bus, db, 6, alerts_every=3)
    first = await _apply(js, db, projection, OPS, msgs[:3])
    assert first.known is not None and first.known.after == msgs[2].metadata.sequence.stream
    messages.clear()
    second = await _apply(js, db, projection, OPS, msgs[3:], first.known)
    # Lock, guard, both tables' rows, position and COMMIT: one message.
    assert len(messages) == 1 and messages[0].startswith("BEGIN;") and messages[0].endswith("COMMIT")
    assert second.known is not None and second.known.after == second.position == msgs[-1].metadata.sequence.stream
    assert await ledger_seqs(db, projection.schema) == [m.metadata.sequence.stream for m in msgs]
    await _same_as_rebuild(js, db, projection)


async def test_the_guard_catches_a_position_another_writer_moved(bus, db, held):
    js, projection, msgs = await _published(bus, db, 6)
    ours = await _apply(js, db, projection, OPS, msgs[:1])
    ours = await _apply(js, db, projection, OPS, msgs[1:2], ours.known, held)  # on `held`, its functions made
    # Another holder of the hub's lease applies the next two (ours does not know).
    await _apply(js, db, projection, OPS, msgs[2:4])
    # Ours, from what it knew: without the guard it would apply events 3 and 4 again (the ledger has no key).
    result = await _apply(js, db, projection, OPS, msgs[2:], ours.known, held)
    assert result.applied == 2 and result.position == msgs[-1].metadata.sequence.stream
    assert await ledger_seqs(db, projection.schema) == [m.metadata.sequence.stream for m in msgs]
    await _same_as_rebuild(js, db, projection)


async def test_the_guard_catches_a_rebuild_swapped_in_meanwhile(bus, db, held):
    js, projection, msgs = await _published(bus, db, 5)
    ours = await _apply(js, db, projection, OPS, msgs[:1])
    # On `held`, its functions have run once: PostgreSQL keeps their plans, made against the tables swapped out.
    ours = await _apply(js, db, projection, OPS, msgs[1:2], ours.known, held)
    swapped = await rebuild(js, db, projection)  # replays everything stored and swaps it in under the hub lock
    assert swapped.positions[OPS] == msgs[-1].metadata.sequence.stream
    result = await _apply(js, db, projection, OPS, msgs[2:], ours.known, held)
    assert result.applied == 0 and result.position == msgs[-1].metadata.sequence.stream
    assert await ledger_seqs(db, projection.schema) == [m.metadata.sequence.stream for m in msgs]
    await _same_as_rebuild(js, db, projection)


async def test_partitions_write_their_batches_in_one_round_trip_side_by_side(bus, db, messages):
    js, publisher = bus
    hub = f"kp-{uuid.uuid4().hex[:6]}"
    whole = partition_projection(hub)
    parts = [whole.for_partition(Partition(k, 2)) for k in range(2)]
    await ensure_schema(db, whole, whole.schema)
    await publisher.publish_many(build_events(publisher, hub, 0, 300, []))
    msgs = await read_all(js, OPS, f"operational.{hub}.>")
    known = [None, None]
    one_message = 0
    for start in range(0, len(msgs), 20):
        for k, part in enumerate(parts):
            messages.clear()
            result = await _apply(js, db, part, OPS, msgs[start : start + 20], known[k])
            one_message += known[k] is not None and len(messages) == 1
            known[k] = result.known
    assert one_message >= len(msgs) // 20 * 2 - 4  # all but the first of each and those that stored reverts
    await _same_as_rebuild(js, db, whole)


async def test_the_guard_catches_a_revert_another_streams_batch_stored(bus, db, held):
    js, publisher = bus
    hub = f"sample-{uuid.uuid4().hex[:8]}"
    projection = sample_projection(
        hub, streams={OPS: f"operational.{hub}.>", "CONSTITUTIONAL": f"constitutional.{hub}.>"}
    )
    await ensure_schema(db, projection, projection.schema)
    stored = await publisher.publish_many(health_events(publisher, hub, 3))
    msgs = await read_all(js, OPS, f"operational.{hub}.>")
    ours = await _apply(js, db, projection, OPS, msgs[:1])
    # The constitutional stream's follower stores a revert of the third event before ours applies it.
    reverted_event = _event(publisher, hub, stored[2].event_id, msgs[2])
    await publisher.publish_many([revert_of(publisher, reverted_event)])
    revert_msgs = await read_all(js, "CONSTITUTIONAL", f"constitutional.{hub}.>")
    await _apply(js, db, projection, "CONSTITUTIONAL", revert_msgs)
    result = await _apply(js, db, projection, OPS, msgs[1:], ours.known, held)
    assert result.applied == 1  # the reverted one skipped
    assert await ledger_seqs(db, projection.schema) == [m.metadata.sequence.stream for m in msgs[:2]]
    await _same_as_rebuild(js, db, projection)


async def test_a_followers_own_connection_sends_each_batch_as_two_calls_around_its_rows(bus, db, messages):
    js, publisher = bus
    hub = f"kops-{uuid.uuid4().hex[:6]}"
    projection = ops_projection(hub)  # with an after-batch statement: the recent events' trim
    await ensure_schema(db, projection, projection.schema)
    count = RECENT_EVENTS_KEPT + 50
    checks = [publisher.build("ops-health-checked", hub=hub, subject=f"service/s{i % 30}",
                              data={"status": ["green", "red"][i % 2]}) for i in range(count)]  # fmt: skip
    await publisher.publish_many(checks)
    msgs = await read_all(js, OPS, f"operational.{hub}.>")
    held = driver.Held(db)
    try:
        known, sent = None, []
        for start in range(0, count, 7):
            messages.clear()
            result = await _apply(js, db, projection, OPS, msgs[start : start + 7], known, held)
            if known is not None:
                sent.append(list(messages))
            known = result.known
    finally:
        await held.close()
    # Made once (both functions in one message), then one message a batch: a call, the rows, a call.
    assert "CREATE OR REPLACE FUNCTION pg_temp." in sent[0][0] and all(len(m) == 1 for m in sent[1:])
    assert all(m[0].startswith("BEGIN; SELECT pg_temp.") and "; SELECT pg_temp." in m[0] for m in sent[1:])
    async with db.connect() as conn:
        kept = await conn.execute(sa.text(f'SELECT count(*) FROM "{projection.schema}".recent_events'))
        assert kept.scalar() == RECENT_EVENTS_KEPT
    await _same_as_rebuild(js, db, projection)


async def test_a_followers_own_connection_that_broke_is_replaced(bus, db):
    js, projection, msgs = await _published(bus, db, 6)
    held = driver.Held(db)
    try:
        ours = await _apply(js, db, projection, OPS, msgs[:1])
        ours = await _apply(js, db, projection, OPS, msgs[1:2], ours.known, held)
        pid = (await driver.raw_connection(await held.connection(projection.schema))).get_server_pid()
        async with db.connect() as conn:  # an administrator ends its backend (a restart, a failover)
            await conn.execute(sa.text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
        with pytest.raises(sa.exc.DBAPIError):
            await _apply(js, db, projection, OPS, msgs[2:4], ours.known, held)
        ours = await _apply(js, db, projection, OPS, msgs[2:4], None, held)  # the follower's retry reads the state
        result = await _apply(js, db, projection, OPS, msgs[4:], ours.known, held)
        again = (await driver.raw_connection(await held.connection(projection.schema))).get_server_pid()
    finally:
        await held.close()
    assert result.applied == 2 and again != pid
    assert await ledger_seqs(db, projection.schema) == [m.metadata.sequence.stream for m in msgs]
    await _same_as_rebuild(js, db, projection)


def _event(publisher, hub: str, event_id: str, msg) -> Event:
    from vsmesh.bus.provenance import decode_stored

    event = decode_stored(msg.data, msg.headers, msg.subject)
    assert event.id == event_id and event.hub == hub
    return event


HOSTILE = [
    "it's",
    "back\\slash \\' \\\\'",
    "$$ dollar $q$ quoted $$",
    "'; DROP TABLE notes; --",
    "E'\\x00' /* comment */ -- line",
    "unicode: é 中文 🚀 \u202e reversed \u0301 combining",
    '{"json": "with \\"quotes\\"", "and": [1, 2]}',
    "new\nline\ttab\r",
    "x" * 100_000,
    "",
]

metadata = sa.MetaData()
notes = sa.Table(
    "notes",
    metadata,
    sa.Column("entity", sa.Text, primary_key=True),
    sa.Column("body", sa.Text),
    sa.Column("doc", JSONB),
    sa.Column("seq", sa.BigInteger, nullable=False),
)


def on_note(event: Event, at: Applied, changes: Changes) -> None:
    note = event.data.observations.get("note", "")
    changes.upsert(notes, {"entity": event.subject, "body": note, "doc": event.data.observations, "seq": at.sequence})


def notes_projection() -> Projection:
    hub = f"notes-{uuid.uuid4().hex[:8]}"
    return Projection(hub=hub, streams={OPS: f"operational.{hub}.>"}, metadata=metadata,
                      handlers={OpsHealthChecked: on_note})  # fmt: skip


def _note(publisher, hub: str, entity: str, note: str):
    observations = {"note": note, "nested": {"quote": note[:50], "list": [note[:20], 1, None, True]}}
    return publisher.build("ops-health-checked", hub=hub, subject=f"service/{entity}",
                           data={"status": "green", "observations": observations})  # fmt: skip


async def test_hostile_values_arrive_byte_for_byte_in_one_round_trip(bus, db, messages):
    js, publisher = bus
    projection = notes_projection()
    hub = projection.hub
    await ensure_schema(db, projection, projection.schema)
    await publisher.publish_many([_note(publisher, hub, "first", "plain")])
    first = await _apply(js, db, projection, OPS, await read_all(js, OPS, f"operational.{hub}.>"))
    await publisher.publish_many([_note(publisher, hub, f"n{i}", v) for i, v in enumerate(HOSTILE)])
    msgs = (await read_all(js, OPS, f"operational.{hub}.>"))[1:]
    messages.clear()
    result = await _apply(js, db, projection, OPS, msgs, first.known)
    assert result.applied == len(HOSTILE) and len(messages) == 1  # the literal path, not the fallback
    async with db.connect() as conn:
        conn = await in_schema(conn, projection.schema)
        rows = {e: (b, d) for e, b, d in await conn.execute(sa.select(notes.c.entity, notes.c.body, notes.c.doc))}
    for i, value in enumerate(HOSTILE):
        body, doc = rows[f"service/n{i}"]
        assert body == value and body.encode() == value.encode()
        assert doc == {"note": value, "nested": {"quote": value[:50], "list": [value[:20], 1, None, True]}}


def test_values_a_literal_cannot_carry_exactly_are_left_to_parameters():
    assert literal("a\x00b") is None  # a simple-query message ends at a NUL
    assert literal("\ud800") is None  # not UTF-8
    assert literal(float("nan")) is None
    assert literal(dt.datetime(2026, 12, 7, 23, 0)) is None  # naive: whose zone?
    assert literal(dt.datetime(2026, 12, 7, 23, 0, tzinfo=dt.UTC)) == "'2026-12-07T23:00:00+00:00'"
    assert literal("it's \\") == "E'it''s \\\\'"
    assert literal(object()) is None


async def test_numbers_at_their_limits_arrive_exactly_under_their_cast(db):
    values = [(-(2**63), "BIGINT"), (2**63 - 1, "BIGINT"), (-1.5e-300, "FLOAT"), (Decimal("-12.3400"), "NUMERIC")]
    async with db.connect() as conn:
        for value, cast in values:
            assert (await conn.execute(sa.text(f"SELECT {literal(value)}::{cast}"))).scalar() == value


@pytest.mark.parametrize("column", ["body", "doc"])
async def test_a_value_postgresql_refuses_in_a_known_batch_is_quarantined_alone(bus, db, settings, column):
    js, publisher = bus
    projection = notes_projection()
    hub = projection.hub
    await ensure_schema(db, projection, projection.schema)
    # A NUL in text cannot be sent as a literal (the batch falls back to parameters); in JSONB it can ("\u0000"),
    # and PostgreSQL refuses it there.
    poison = _note(publisher, hub, "poison", "nul \x00 here")
    if column == "doc":
        poison = publisher.build("ops-health-checked", hub=hub, subject="service/poison",
                                 data={"status": "green", "observations": {"nested": "nul \x00 here"}})  # fmt: skip
    stop = asyncio.Event()
    task = asyncio.create_task(run_projection(js, db, projection, settings, stop, ProjectorStats(hub)))
    try:
        first = await publisher.publish_many([_note(publisher, hub, "a", "first")])
        await _applied_through(db, projection, first[-1].sequence)
        # Past the first batch the projector knows its state: the next batch is written from it.
        stored = await publisher.publish_many(
            [_note(publisher, hub, "b", "before"), poison, _note(publisher, hub, "c", "after")]
        )
        await _applied_through(db, projection, stored[-1].sequence)
    finally:
        stop.set()
        await task
    async with db.connect() as conn:
        conn = await in_schema(conn, projection.schema)
        bodies = dict((await conn.execute(sa.select(notes.c.entity, notes.c.body))).all())
    assert bodies == {"service/a": "first", "service/b": "before", "service/c": "after"}
    quarantined = [
        q for q in await list_quarantined(js) if (q.origin_stream, q.origin_seq) == (OPS, stored[1].sequence)
    ]
    assert len(quarantined) == 1 and "could not store it" in quarantined[0].reason and hub in quarantined[0].reason


async def _applied_through(db, projection: Projection, sequence: int) -> None:
    for _ in range(200):
        if (await positions(db, projection, projection.schema)).get(OPS, 0) >= sequence:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"{projection.hub} did not apply through {sequence} in 10 s")
