"""The recent-events log keeps exactly the newest rows by (time, stream, seq), whatever order they arrived in."""

import datetime as dt
import random
import uuid

import sqlalchemy as sa

from vsmesh.hubs.ops.recent import trim_recent
from vsmesh.hubs.ops.tables import RECENT_EVENTS_KEPT, recent_events
from vsmesh.projectors.engine import driver
from vsmesh.projectors.engine.batches import in_schema
from vsmesh.projectors.engine.database import create_engine
from vsmesh.projectors.rebuild.copies import drop_schema


async def test_the_trim_keeps_the_newest_rows_by_time_then_stream_then_sequence(settings):
    schema = f"recent_{uuid.uuid4().hex[:8]}"
    engine = create_engine(settings)
    start = dt.datetime(2026, 11, 30, tzinfo=dt.UTC)
    rng = random.Random(7)
    # Many rows share a time, so stream and sequence decide among them; they arrive shuffled.
    rows = [
        {"stream": stream, "seq": seq, "event_id": f"{stream}-{seq}", "time": start + dt.timedelta(seconds=seq % 97),
         "type": "ops-health-checked", "entity": "service/a", "actor": "test", "summary": "health green"}
        for stream in ("OPERATIONAL", "TACTICAL") for seq in range(1, 181)
    ]  # fmt: skip
    rng.shuffle(rows)
    newest = sorted(rows, key=lambda r: (r["time"], r["stream"], r["seq"]))[-RECENT_EVENTS_KEPT:]
    try:
        async with engine.begin() as conn:
            await conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
            conn = await in_schema(conn, schema)
            await conn.run_sync(lambda sync: recent_events.create(sync))
            for part in (rows[:150], rows[150:]):  # two batches: the first alone is within the limit
                await conn.execute(recent_events.insert(), part)
                for stmt in trim_recent():
                    await driver.execute(conn, stmt)
            kept = (await conn.execute(sa.select(recent_events.c.stream, recent_events.c.seq))).all()
        assert sorted(kept) == sorted((r["stream"], r["seq"]) for r in newest)
    finally:
        await drop_schema(engine, schema)
        await engine.dispose()
