"""Rebuild: equal to live and answering throughout; interrupted builds resumed (or discarded when the
projector changed) without touching the live hub; point-in-time copies by sequence and by time."""

import asyncio
import dataclasses
import datetime as dt
import time
import uuid

import pytest
import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB

from tests.hub_lock import HeldHubLock
from tests.projectors.sample import digest, entities, health_events, ledger_seqs, read_all, sample_projection
from vsmesh.bus.reader import count_pending
from vsmesh.errors import ConfigError
from vsmesh.events.schemas.ops import OpsHealthChecked
from vsmesh.hubs.ops.projector import projection as ops_projection
from vsmesh.projectors.engine.batches import (
    apply_batch,
    create_schema,
    ensure_schema,
    hub_lock_key,
    in_schema,
    positions,
)
from vsmesh.projectors.engine.pipeline import Until
from vsmesh.projectors.engine.stats import ProjectorStats
from vsmesh.projectors.rebuild.build import rebuild
from vsmesh.projectors.rebuild.copies import list_builds, pit_schema, point_in_time_schema, staging_schema
from vsmesh.projectors.runner import run_projection


async def project_live(js, db, settings, projection) -> None:
    """Run the live projector until it has applied everything stored, then stop it."""
    await ensure_schema(db, projection, projection.schema)
    stop, stats = asyncio.Event(), ProjectorStats(projection.hub)
    task = asyncio.create_task(run_projection(js, db, projection, settings, stop, stats))
    async with asyncio.timeout(30):
        while not await caught_up(js, db, projection):
            if task.done():
                task.result()
            await asyncio.sleep(0.05)
    stop.set()
    await task


async def caught_up(js, db, projection) -> bool:
    at = (await positions(db, projection, projection.schema)).get("OPERATIONAL", 0)
    return at > 0 and await count_pending(js, "OPERATIONAL", projection.streams["OPERATIONAL"], at) == 0


async def test_rebuild_equals_live_and_the_hub_answers_throughout(bus, db, settings):
    js, publisher = bus
    projection = sample_projection()
    await publisher.publish_many(health_events(publisher, projection.hub, 3000, entities_count=7, alerts_every=11))
    await project_live(js, db, settings, projection)
    live = await digest(db, projection, projection.schema)

    errors: list[Exception] = []
    reads: list[tuple[float, float]] = []  # (start, end) of every read that answered right
    stop = asyncio.Event()

    async def keep_asking() -> None:
        while not stop.is_set():
            began = time.monotonic()
            try:
                async with db.connect() as conn:
                    conn = await in_schema(conn, projection.schema)
                    n = (await conn.execute(sa.select(sa.func.count()).select_from(entities))).scalar_one()
                    assert n == 7, "the hub answered with an emptied table"
                reads.append((began, time.monotonic()))
            except Exception as e:  # noqa: BLE001 - every failure is the finding
                errors.append(e)
            await asyncio.sleep(0)

    askers = [asyncio.create_task(keep_asking()) for _ in range(3)]
    # The hub's write lock is held until the build has reached its swap (which waits for the lock): then it is
    # let go while the readers keep asking, so reads land during the swap itself, not only during the build.
    with HeldHubLock(settings.database_url, projection.hub):
        rebuilding = asyncio.create_task(rebuild(js, db, projection, batch_size=100))
        async with asyncio.timeout(60):
            while not await waits_for_hub_lock(db, projection.hub):
                assert not rebuilding.done(), "the rebuild swapped without the hub lock"
                await asyncio.sleep(0.01)
        released = time.monotonic()
    result = await rebuilding
    swapped = time.monotonic()
    stop.set()
    await asyncio.gather(*askers)
    assert not errors, errors[:3]
    during = [r for r in reads if released <= r[0] <= swapped]
    assert during, f"no read began during the swap ({swapped - released:.3f} s); {len(reads)} reads in all"
    assert result.events == 3000 and result.source == "log" and not result.resumed
    assert await digest(db, projection, projection.schema) == live
    # What bench/rebuild.py prints of it: the steps, which add up to the whole
    assert list(result.phases) == ["prepare", "replay", "finish"]
    assert sum(result.phases.values()) == pytest.approx(result.seconds, abs=0.05)
    # The build left room in the pages of the tables it upserted; the tables it swapped in fill them as ever.
    assert await _storage_options(db, projection.schema) == {}


async def waits_for_hub_lock(db, hub: str) -> bool:
    """Whether a session waits for the hub's write lock (engine.lock_hub's advisory lock)."""
    query = sa.text(
        "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted"
        " AND classid = 0 AND objid = CAST(:key AS oid) AND objsubid = 1"
    )
    async with db.connect() as conn:
        return (await conn.execute(query, {"key": hub_lock_key(hub)})).scalar_one() > 0


async def test_an_interrupted_rebuild_is_resumed_and_never_touches_the_live_hub(bus, db, settings):
    js, publisher = bus
    projection = sample_projection()
    await publisher.publish_many(health_events(publisher, projection.hub, 4000, entities_count=20))
    await project_live(js, db, settings, projection)
    live = await digest(db, projection, projection.schema)

    # A rebuild dies half-way (the task is cancelled as a killed process would stop).
    progress_seen = asyncio.Event()
    task = asyncio.create_task(
        rebuild(js, db, projection, batch_size=200, progress=lambda done, total: done >= 1000 and progress_seen.set())
    )
    await asyncio.wait_for(progress_seen.wait(), 30)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    left = [b for b in await list_builds(db) if b.schema == staging_schema(projection.schema)]
    assert len(left) == 1 and left[0].finished_at is None
    assert await digest(db, projection, projection.schema) == live  # the live hub never noticed

    # The next run resumes from the staging schema's positions and ends where a full rebuild would.
    done_before = len(await ledger_seqs(db, staging_schema(projection.schema)))
    result = await rebuild(js, db, projection, batch_size=200)
    assert result.resumed and 0 < done_before < 4000 and result.events == 4000 - done_before
    assert await digest(db, projection, projection.schema) == live
    assert not [b for b in await list_builds(db) if b.hub == projection.hub]

    # Interrupted again, then `vsmesh rebuild --fresh`: the half-built schema is dropped and the build starts over.
    progress_seen.clear()
    task = asyncio.create_task(
        rebuild(js, db, projection, batch_size=200, progress=lambda done, total: done >= 1000 and progress_seen.set())
    )
    await asyncio.wait_for(progress_seen.wait(), 30)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert len(await ledger_seqs(db, staging_schema(projection.schema))) > 0
    fresh = await rebuild(js, db, projection, batch_size=200, fresh=True)
    assert not fresh.resumed and fresh.events == 4000
    assert await digest(db, projection, projection.schema) == live


async def test_a_leftover_of_another_projector_version_is_discarded(bus, db, settings):
    js, publisher = bus
    projection = sample_projection()
    await publisher.publish_many(health_events(publisher, projection.hub, 2000))
    seen = asyncio.Event()
    task = asyncio.create_task(
        rebuild(js, db, projection, batch_size=100, progress=lambda done, total: done >= 500 and seen.set())
    )
    await asyncio.wait_for(seen.wait(), 30)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task

    # The projector changed (one handler less): its leftover cannot be trusted, the build starts over.
    changed = dataclasses.replace(projection, handlers={OpsHealthChecked: projection.handlers[OpsHealthChecked]})
    result = await rebuild(js, db, changed)
    assert not result.resumed and result.events == 2000
    assert len(await ledger_seqs(db, changed.schema)) == 2000


async def test_point_in_time_copies_stop_at_a_sequence_or_a_time(bus, db, settings):
    js, publisher = bus
    projection = sample_projection()
    first = await publisher.publish_many(health_events(publisher, projection.hub, 300))
    await asyncio.sleep(0.05)  # a clear gap in stream time between the two halves
    # A millisecond past the last of the first half: stream times are nanoseconds, Python's microseconds.
    middle = (await js.get_msg("OPERATIONAL", first[-1].sequence)).time + dt.timedelta(milliseconds=1)
    await publisher.publish_many(health_events(publisher, projection.hub, 300))
    by_seq, by_time = f"s{projection.hub[-8:]}", f"t{projection.hub[-8:]}"

    await rebuild(js, db, projection, into=by_seq, until=Until(seq={"*": first[149].sequence}))
    await rebuild(js, db, projection, into=by_time, until=Until(time=middle))

    # By sequence: exactly the first 150 events; by time: exactly the first 300; no live hub was made.
    assert await ledger_seqs(db, pit_schema(by_seq)) == [p.sequence for p in first[:150]]
    assert await ledger_seqs(db, pit_schema(by_time)) == [p.sequence for p in first]
    assert (await positions(db, projection, pit_schema(by_seq)))["OPERATIONAL"] == first[149].sequence
    assert await _storage_options(db, pit_schema(by_seq)) == {}
    async with db.connect() as conn:
        live_exists = await conn.execute(sa.text("SELECT to_regnamespace(:s)"), {"s": projection.schema})
        assert live_exists.scalar_one() is None

    # Listed, readable by name, refused for another hub, and dropped.
    names = {b.name for b in await list_builds(db) if b.hub == projection.hub and b.finished_at}
    assert names == {by_seq, by_time}
    assert await point_in_time_schema(db, projection.hub, by_seq) == pit_schema(by_seq)
    with pytest.raises(ConfigError, match="is of"):
        await point_in_time_schema(db, "other-hub", by_seq)
    with pytest.raises(ConfigError, match="already exists"):
        await rebuild(js, db, projection, into=by_seq, until=Until(seq={"*": 1}))
    with pytest.raises(ConfigError, match="needs --into"):
        await rebuild(js, db, projection, until=Until(seq={"*": 1}))


async def test_apply_batch_after_a_swap_skips_what_the_rebuild_applied(bus, db, settings):
    js, publisher = bus
    projection = sample_projection()
    await publisher.publish_many(health_events(publisher, projection.hub, 500))
    await rebuild(js, db, projection)
    msgs = await read_all(js, "OPERATIONAL", projection.streams["OPERATIONAL"])
    # A live projector that was behind delivers an old batch after the swap: nothing is applied twice.
    async with db.begin() as conn:
        result = await apply_batch(await in_schema(conn, projection.schema), projection, "OPERATIONAL", msgs[:200])
    assert result.applied == 0
    assert len(await ledger_seqs(db, projection.schema)) == 500


async def test_a_staging_schema_made_in_one_round_trip_is_the_one_create_all_makes(db):
    # ops-hub's tables (JSONB, timestamps, composite keys, indexes): the same columns, keys and indexes as the
    # live schema's, and a leftover of an earlier build is replaced, not added to.
    projection = ops_projection()
    live, staged = "ddl_live_" + uuid.uuid4().hex[:6], "ddl_staged_" + uuid.uuid4().hex[:6]
    await ensure_schema(db, projection, live)
    async with db.begin() as conn:
        await conn.execute(sa.text(f'CREATE SCHEMA "{staged}"'))
        await conn.execute(sa.text(f'CREATE TABLE "{staged}".leftover (x int)'))
    await create_schema(db, projection, staged)
    try:
        assert await _shape(db, staged) == await _shape(db, live)
        assert "leftover" not in {row[0] for row in (await _shape(db, staged))[0]}
        # Every JSONB column (the evidence's detail among them), and nothing else.
        assert ("evidence", "detail") in _jsonb(projection)
        assert await _without_statistics(db, staged) == _jsonb(projection) == await _without_statistics(db, live)
    finally:
        async with db.begin() as conn:
            for schema in (live, staged):
                await conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))


async def test_a_live_schema_made_before_gathers_no_statistics_on_jsonb_after_a_start(db):
    # A hub's tables made when ANALYZE still sorted every JSONB document it sampled: the next start turns that off.
    projection = ops_projection()
    live = "ddl_old_" + uuid.uuid4().hex[:6]
    await ensure_schema(db, projection, live)
    async with db.begin() as conn:
        for table, column in _jsonb(projection):
            await conn.execute(sa.text(f'ALTER TABLE "{live}"."{table}" ALTER COLUMN "{column}" SET STATISTICS -1'))
    assert await _without_statistics(db, live) == set()
    try:
        await ensure_schema(db, projection, live)
        assert await _without_statistics(db, live) == _jsonb(projection)
    finally:
        async with db.begin() as conn:
            await conn.execute(sa.text(f'DROP SCHEMA "{live}" CASCADE'))


def _jsonb(projection) -> set[tuple[str, str]]:
    return {(t.name, c.name) for t in projection.metadata.sorted_tables for c in t.columns if isinstance(c.type, JSONB)}


async def _without_statistics(db, schema: str) -> set[tuple[str, str]]:
    """The (table, column) pairs of `schema` that ANALYZE gathers no statistics for."""
    return set(
        await _rows(
            db,
            "SELECT c.relname, a.attname FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid"
            " JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = :s AND a.attstattarget = 0",
            schema,
        )
    )


async def _shape(db, schema: str) -> tuple[list, list, list]:
    """A schema's columns, constraints and index definitions, without its name."""
    columns = (
        "SELECT table_name, column_name, data_type, is_nullable, column_default FROM information_schema.columns"
        " WHERE table_schema = :s ORDER BY 1, 2"
    )
    constraints = (
        "SELECT c.relname, k.contype, pg_get_constraintdef(k.oid) FROM pg_constraint k JOIN pg_class c"
        " ON c.oid = k.conrelid JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = :s"
        " ORDER BY 1, 2, 3"
    )
    indexes = "SELECT indexname, replace(indexdef, :s, '') FROM pg_indexes WHERE schemaname = :s ORDER BY 1"
    return tuple([await _rows(db, sql, schema) for sql in (columns, constraints, indexes)])


async def _rows(db, sql: str, schema: str) -> list[tuple]:
    async with db.connect() as conn:
        return [tuple(r) for r in await conn.execute(sa.text(sql), {"s": schema})]


async def _storage_options(db, schema: str) -> dict[str, list[str]]:
    """The tables of `schema` that have storage parameters of their own (pg_class.reloptions), with them."""
    sql = (
        "SELECT c.relname, c.reloptions FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
        " WHERE n.nspname = :s AND c.relkind = 'r' AND c.reloptions IS NOT NULL"
    )
    return dict(await _rows(db, sql, schema))
