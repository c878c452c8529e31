"""PostgreSQL going away under a live projector: it says why, keeps its place, and goes on when it is back."""

import asyncio
import contextlib

from tests.projectors.sample import health_events, ledger_seqs, sample_projection
from vsmesh.projectors.engine.batches import positions
from vsmesh.projectors.engine.database import create_engine
from vsmesh.projectors.engine.stats import ProjectorStats
from vsmesh.projectors.runner import run_projection
from vsmesh.runtime.postgres_server import start_postgres, stop_postgres


async def eventually(check, what: str, timeout: float) -> None:
    """Poll `check` on the event loop (the projector runs on it too)."""
    for _ in range(int(timeout / 0.05)):
        if check():
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


async def test_a_live_projector_rides_out_a_postgresql_restart(bus, settings, tmp_path):
    js, publisher = bus
    pgdata = tmp_path / "postgres"
    own = settings.model_copy(update={"database_url": start_postgres(pgdata)})
    engine = create_engine(own)
    projection = sample_projection()
    stats = ProjectorStats(projection.hub)
    stop = asyncio.Event()
    running = asyncio.create_task(run_projection(js, engine, projection, own, stop, stats))
    try:
        first = await publisher.publish_many(health_events(publisher, projection.hub, 50))
        await eventually(lambda: stats.positions.get("OPERATIONAL", 0) >= first[-1].sequence, "first applied", 30)

        await asyncio.to_thread(stop_postgres, pgdata)
        second = await publisher.publish_many(health_events(publisher, projection.hub, 50))
        await eventually(lambda: stats.last_error is not None, "the outage reported", 30)
        assert stats.last_error.startswith("cannot write to PostgreSQL"), stats.last_error
        assert not running.done(), "the projector must wait for PostgreSQL, not stop"

        await asyncio.to_thread(start_postgres, pgdata)
        await eventually(lambda: stats.positions.get("OPERATIONAL", 0) >= second[-1].sequence, "second applied", 60)
        assert stats.last_error is None
        # Every event applied exactly once, across the outage.
        assert await ledger_seqs(engine, projection.schema) == [p.sequence for p in first + second]
        assert (await positions(engine, projection, projection.schema))["OPERATIONAL"] == second[-1].sequence
    finally:
        stop.set()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(running, 10)
        await engine.dispose()
        await asyncio.to_thread(stop_postgres, pgdata)
