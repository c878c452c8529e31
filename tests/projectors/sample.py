"""A small projection of the engine tests' own, so they test the engine, not a hub's changing read model:
one row per entity (last status, how many checks) and a ledger of every applied event (no key on purpose:
an event applied twice shows up as two rows)."""

from __future__ import annotations

import hashlib
import uuid

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.ext.asyncio import AsyncEngine

from vsmesh.bus.reader import Start, StreamReader
from vsmesh.events.envelope import Event
from vsmesh.events.schemas.alert import AlertRaised
from vsmesh.events.schemas.ops import OpsHealthChecked
from vsmesh.projectors.engine.batches import in_schema
from vsmesh.projectors.engine.changes import Changes
from vsmesh.projectors.engine.projection import Applied, Projection

metadata = sa.MetaData()
entities = sa.Table(
    "entities",
    metadata,
    sa.Column("entity", sa.Text, primary_key=True),
    sa.Column("status", sa.Text),
    sa.Column("checked_at", sa.TIMESTAMP(timezone=True)),
    sa.Column("observations", JSONB),
    sa.Column("owner", sa.Text),
    sa.Column("updated_seq", sa.BigInteger, nullable=False),
)
ledger = sa.Table(
    "ledger",
    metadata,
    sa.Column("stream", sa.Text, nullable=False),
    sa.Column("seq", sa.BigInteger, nullable=False),
    sa.Column("event_id", sa.Text, nullable=False),
    sa.Column("type", sa.Text, nullable=False),
)


def on_health_checked(event: Event, at: Applied, changes: Changes) -> None:
    changes.upsert(
        entities,
        {
            "entity": event.subject,
            "status": event.data.status,
            "checked_at": event.time,
            "observations": event.data.observations,
            "updated_seq": at.sequence,
        },
    )
    changes.insert(ledger, {"stream": at.stream, "seq": at.sequence, "event_id": event.id, "type": event.type})


def on_alert_raised(event: Event, at: Applied, changes: Changes) -> None:
    # Sets other columns than a health check: one batch then holds upserts of two column sets.
    changes.upsert(entities, {"entity": event.subject, "owner": event.actor, "updated_seq": at.sequence})
    changes.insert(ledger, {"stream": at.stream, "seq": at.sequence, "event_id": event.id, "type": event.type})


def sample_projection(
    hub: str | None = None, *, reads: str | None = None, streams: dict[str, str] | None = None
) -> Projection:
    """The projection under `hub` (default: a fresh name), reading the events published for hub `reads`."""
    hub = hub or f"sample-{uuid.uuid4().hex[:8]}"
    return Projection(
        hub=hub,
        streams=streams or {"OPERATIONAL": f"operational.{reads or hub}.>"},
        metadata=metadata,
        handlers={OpsHealthChecked: on_health_checked, AlertRaised: on_alert_raised},
    )


def health_events(publisher, hub: str, count: int, *, entities_count: int = 50, alerts_every: int = 0) -> list:
    """`count` health checks over a few entities, with an alert every `alerts_every` events."""
    out = []
    for i in range(count):
        subject = f"service/s{i % entities_count}"
        if alerts_every and i % alerts_every == alerts_every - 1:
            out.append(publisher.build("alert-raised", hub=hub, subject=subject, data={"title": f"alert {i}"}))
        else:
            data = {"status": ("green", "amber", "red")[i % 3], "observations": {"i": i, "probe": "http"}}
            out.append(publisher.build("ops-health-checked", hub=hub, subject=subject, data=data))
    return out


async def digest(engine: AsyncEngine, projection: Projection, schema: str, *, positions: bool = True) -> str:
    """Every table's rows in a fixed order (the positions table too, unless told): equal digests, equal models."""
    h = hashlib.sha256()
    async with engine.connect() as conn:
        conn = await in_schema(conn, schema)
        for table in projection.metadata.sorted_tables:
            if table is projection.positions and not positions:
                continue
            h.update(table.name.encode())
            for row in await conn.execute(sa.select(table).order_by(*table.columns)):
                h.update(repr(tuple(row)).encode())
    return h.hexdigest()


async def read_all(js, stream: str, subject: str, **options) -> list:
    """Every stored message on `subject`, in order."""
    msgs = []
    async with StreamReader(js, stream, subject, Start(), **options) as reader:
        async for batch in reader.drain_to_head():
            msgs.extend(batch)
    return msgs


async def ledger_seqs(engine: AsyncEngine, schema: str) -> list[int]:
    async with engine.connect() as conn:
        conn = await in_schema(conn, schema)
        return [s for (s,) in await conn.execute(sa.select(ledger.c.seq).order_by(ledger.c.seq))]
