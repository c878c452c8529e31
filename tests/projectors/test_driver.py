"""Statements the engine runs through asyncpg itself: inside the caller's transaction, with SQLAlchemy's errors,
and a live batch's no-flush commit confined to its own transaction."""

import pytest
import sqlalchemy as sa

from tests.projectors.sample import entities, health_events, read_all, sample_projection
from vsmesh.projectors.engine import driver
from vsmesh.projectors.engine.batches import apply_batch, ensure_schema, in_schema
from vsmesh.projectors.engine.bulk import upsert_statement


async def _count(db, schema: str) -> int:
    async with db.connect() as conn:
        return (await conn.execute(sa.text(f'SELECT count(*) FROM "{schema}".entities'))).scalar_one()


async def test_a_first_statement_run_by_the_driver_rolls_back_with_the_transaction(db):
    projection = sample_projection()
    await ensure_schema(db, projection, projection.schema)
    row = {"entity": "service/a", "status": "green", "updated_seq": 1}
    with pytest.raises(RuntimeError):
        async with db.begin() as conn:
            conn = await in_schema(conn, projection.schema)
            # Nothing ran through SQLAlchemy yet: its BEGIN is still to be sent.
            await driver.execute(conn, upsert_statement(entities, tuple(sorted(row))), row)
            raise RuntimeError("roll back")
    assert await _count(db, projection.schema) == 0


async def test_a_value_postgresql_refuses_raises_sqlalchemys_integrity_error(db):
    projection = sample_projection()
    await ensure_schema(db, projection, projection.schema)
    row = {"entity": "service/a", "updated_seq": None}  # NOT NULL
    with pytest.raises(sa.exc.IntegrityError, match="updated_seq"):
        async with db.begin() as conn:
            conn = await in_schema(conn, projection.schema)
            await driver.execute_many(conn, upsert_statement(entities, tuple(sorted(row))), tuple(sorted(row)), [row])


async def three_health_events(bus, db):
    """A fresh sample projection's tables, and three health events of its hub as read back from the stream."""
    js, publisher = bus
    projection = sample_projection()
    await ensure_schema(db, projection, projection.schema)
    await publisher.publish_many(health_events(publisher, projection.hub, 3))
    return js, projection, await read_all(js, "OPERATIONAL", f"operational.{projection.hub}.>")


async def test_a_live_batch_skips_the_flush_wait_in_its_own_transaction_only(bus, db):
    _, projection, msgs = await three_health_events(bus, db)
    show = sa.text("SHOW synchronous_commit")
    async with db.connect() as conn:
        async with conn.begin():
            await apply_batch(await in_schema(conn, projection.schema), projection, "OPERATIONAL", msgs)
            assert (await conn.execute(show)).scalar_one() == "off"
        # The same pooled connection: whatever runs on it next waits for its flush again.
        assert (await conn.execute(show)).scalar_one() == "on"
    assert await _count(db, projection.schema) == 3


async def test_a_live_batch_commits_its_rows_and_position_together_and_leaves_the_flush_wait_on(bus, db):
    from vsmesh.projectors.engine.batches import positions
    from vsmesh.projectors.runner import _apply

    js, projection, msgs = await three_health_events(bus, db)
    # The live path: lock with BEGIN, the rows, the position with COMMIT.
    result = await _apply(js, db, projection, "OPERATIONAL", msgs)
    assert await _count(db, projection.schema) == 3
    assert (await positions(db, projection, projection.schema))["OPERATIONAL"] == result.position
    assert result.position == msgs[-1].metadata.sequence.stream
    async with db.connect() as conn:
        assert (await conn.execute(sa.text("SHOW synchronous_commit"))).scalar_one() == "on"


async def test_a_live_batch_that_fails_at_its_commit_leaves_nothing_and_its_connection_serves_again(db):
    projection = sample_projection()
    await ensure_schema(db, projection, projection.schema)
    row = {"entity": "service/a", "status": "green", "updated_seq": 1}
    columns = tuple(sorted(row))
    # A statement sent with COMMIT fails: the rows written before it are rolled back with it.
    with pytest.raises(sa.exc.DBAPIError, match="division by zero"):
        async with driver.few_trips(db, projection.schema, "SELECT 1") as (conn, at_commit):
            await driver.execute_many(conn, upsert_statement(entities, columns), columns, [row])
            at_commit.append("SELECT 1/0")
    assert await _count(db, projection.schema) == 0
    # So is a failure in the body; the pooled connection then runs the next batch.
    with pytest.raises(RuntimeError):
        async with driver.few_trips(db, projection.schema, "SELECT 1") as (conn, _):
            await driver.execute_many(conn, upsert_statement(entities, columns), columns, [row])
            raise RuntimeError("a batch that fails")
    assert await _count(db, projection.schema) == 0
    async with driver.few_trips(db, projection.schema, "SELECT 1") as (conn, _):
        await driver.execute_many(conn, upsert_statement(entities, columns), columns, [row])
    assert await _count(db, projection.schema) == 1
