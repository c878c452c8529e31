"""A poison event never stops a projector: it goes to the quarantine with its reason and the batch goes on."""

import asyncio
import uuid

import pytest
import sqlalchemy as sa

from vsmesh.bus.quarantine_store import list_quarantined
from vsmesh.events.envelope import Event
from vsmesh.events.schemas.ops import OpsHealthChecked
from vsmesh.projectors.engine.batches import ensure_schema, in_schema, positions
from vsmesh.projectors.engine.changes import Changes
from vsmesh.projectors.engine.projection import Applied, Projection
from vsmesh.projectors.engine.stats import ProjectorStats
from vsmesh.projectors.runner import run_projection

metadata = sa.MetaData()
checks = sa.Table(
    "checks",
    metadata,
    sa.Column("entity", sa.Text, primary_key=True),
    sa.Column("status", sa.Text, nullable=False),
    sa.Column("count", sa.Integer, nullable=False),
)
seen = sa.Table("seen", metadata, sa.Column("event_id", sa.Text, primary_key=True))


def on_health(event: Event, at: Applied, changes: Changes) -> None:
    changes.insert(seen, {"event_id": event.id})  # recorded before the failure: must be undone with it
    poison = event.data.observations.get("poison")
    if poison == "handler":
        raise ValueError("this check cannot be folded")
    status = None if poison == "database" else event.data.status  # NOT NULL: PostgreSQL refuses it
    changes.upsert(checks, {"entity": event.subject, "status": status, "count": at.sequence})


@pytest.mark.parametrize("poison", ["handler", "database"])
async def test_a_poison_event_is_quarantined_and_the_projector_goes_on(bus, db, settings, poison):
    js, publisher = bus
    hub = f"poison-{uuid.uuid4().hex[:8]}"
    projection = Projection(hub=hub, streams={"OPERATIONAL": f"operational.{hub}.>"}, metadata=metadata,
                            handlers={OpsHealthChecked: on_health})  # fmt: skip

    def check(entity: str, status: str, **observations):
        return publisher.build("ops-health-checked", hub=hub, subject=f"service/{entity}",
                               data={"status": status, "observations": observations})  # fmt: skip

    stored = await publisher.publish_many([check("a", "green"), check("b", "red", poison=poison), check("c", "amber")])
    await ensure_schema(db, projection, projection.schema)
    stop = asyncio.Event()
    task = asyncio.create_task(run_projection(js, db, projection, settings, stop, ProjectorStats(hub)))
    try:
        for _ in range(200):
            if (await positions(db, projection, projection.schema)).get("OPERATIONAL", 0) >= stored[-1].sequence:
                break
            await asyncio.sleep(0.05)
    finally:
        stop.set()
        await task

    async with db.connect() as conn:
        conn = await in_schema(conn, projection.schema)
        rows = dict((await conn.execute(sa.select(checks.c.entity, checks.c.status))).all())
        ids = set((await conn.execute(sa.select(seen.c.event_id))).scalars())
    # The events around the poison are applied; nothing of the poison is, not even its first change.
    assert rows == {"service/a": "green", "service/c": "amber"}
    assert stored[1].event_id not in ids and {stored[0].event_id, stored[2].event_id} <= ids
    quarantined = [
        q
        for q in await list_quarantined(js)
        if (q.origin_stream, q.origin_seq) == (stored[1].stream, stored[1].sequence)
    ]
    assert len(quarantined) == 1
    expected = "handler of" if poison == "handler" else "could not store it"
    assert expected in quarantined[0].reason and hub in quarantined[0].reason
