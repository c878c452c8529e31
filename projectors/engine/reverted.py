"""Reverts: a hub's read model without the events a person reverted, for every hub, with no per-hub code.

Each hub schema has a `vsmesh_reverted` table: one row per `event-reverted` event of the hub (the revert's
id and the id it reverts), folded by the engine in the same transaction as the batch. An event is reverted
while some revert of it is not itself reverted, so reverting a revert restores the event. `fold` skips the
reverted ids; a revert that arrives after the event it reverts was applied makes the live projector rebuild
the hub (replay + swap, projectors/rebuild/build.py) with the new set, so live and rebuilt read models agree.

A hub's streams are replayed one after the other, so a rebuild first seeds the table from the hub's
`event-reverted` events in the constitutional stream: the set is complete before any other stream is folded.

Beside it, `vsmesh_refolded` names the reverts whose effect the hub's tables show (re-folded after the live
projector stored them, or folded in by a rebuild). A projector stopped between storing a revert and re-folding
would otherwise start again believing every stored revert shown, and the reverted event would stay visible. It
is kept out of the hub's metadata (no diff, no snapshot: a rebuilt schema gets it from its seed), and a schema
without it, made before it existed, shows every revert it stores.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable

import sqlalchemy as sa
from nats.js import JetStreamContext
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncConnection

from vsmesh.bus.provenance import decode_stored
from vsmesh.bus.reader import Start, Stop, StreamReader
from vsmesh.errors import InvalidEvent
from vsmesh.events.envelope import Event
from vsmesh.events.governance import REVERT_TYPE
from vsmesh.projectors.engine.changes import Changes

REVERTED_TABLE = "vsmesh_reverted"
REVERT_STREAM = "CONSTITUTIONAL"

refolded_table = sa.Table("vsmesh_refolded", sa.MetaData(), sa.Column("revert_id", sa.Text, primary_key=True))


def reverted_table(metadata: sa.MetaData) -> sa.Table:
    """The reverts table inside a hub's metadata (created with the hub's tables)."""
    if REVERTED_TABLE in metadata.tables:
        return metadata.tables[REVERTED_TABLE]
    return sa.Table(
        REVERTED_TABLE,
        metadata,
        sa.Column("revert_id", sa.Text, primary_key=True),
        sa.Column("event_id", sa.Text, nullable=False, index=True),
        sa.Column("actor", sa.Text),
        sa.Column("actor_kind", sa.Text),
        sa.Column("reason", sa.Text),
        sa.Column("time", sa.DateTime(timezone=True)),
    )


def revert_row(event: Event) -> dict:
    d = event.data
    return {
        "revert_id": event.id,
        "event_id": d.event_id,
        "actor": event.actor,
        "actor_kind": event.actorkind,
        "reason": d.reason,
        "time": event.time,
    }


def record(table: sa.Table, event: Event, changes: Changes) -> None:
    changes.upsert(table, revert_row(event))


def effective(pairs: Iterable[tuple[str, str]]) -> frozenset[str]:
    """The ids reverted now, from (revert id, reverted id) pairs: reverting a revert restores its target."""
    reverts_of: dict[str, list[str]] = defaultdict(list)
    for revert_id, event_id in pairs:
        reverts_of[event_id].append(revert_id)
    memo: dict[str, bool] = {}

    def reverted(event_id: str, depth: int = 0) -> bool:
        if event_id not in memo:
            # A revert always comes after what it reverts, so the chain ends; the depth guards a forged cycle.
            memo[event_id] = depth < 100 and any(not reverted(r, depth + 1) for r in reverts_of.get(event_id, ()))
        return memo[event_id]

    return frozenset(e for e in list(reverts_of) if reverted(e))


async def load_reverted(conn: AsyncConnection, table: sa.Table) -> frozenset[str]:
    """The hub's reverted ids, from its table (the caller's connection, in the hub's schema)."""
    rows = await conn.execute(sa.select(table.c.revert_id, table.c.event_id))
    return effective((r, e) for r, e in rows)


async def reverts_in_log(js: JetStreamContext, hub: str, stop: Stop | None = None) -> list[Event]:
    """The hub's `event-reverted` events, read from the constitutional stream (up to `stop`)."""
    found: list[Event] = []
    subject = f"{REVERT_STREAM.lower()}.{hub}.{REVERT_TYPE}.>"
    async with StreamReader(js, REVERT_STREAM, subject, Start()) as reader:
        async for batch in reader.drain_to_head(1000, stop=stop):
            for msg in batch:
                try:
                    event = decode_stored(msg.data, msg.headers, msg.subject)
                except InvalidEvent:
                    continue
                if event.type == REVERT_TYPE and event.hub == hub:
                    found.append(event)
    return found


async def load_refolded(conn: AsyncConnection, schema: str) -> frozenset[str] | None:
    """The reverts `schema`'s tables show, or None for a schema without the record (all shown)."""
    exists = await conn.execute(sa.text("SELECT to_regclass(:t)"), {"t": f'"{schema}".{refolded_table.name}'})
    if exists.scalar_one() is None:
        return None
    rows = await conn.execute(sa.text(f'SELECT revert_id FROM "{schema}".{refolded_table.name}'))
    return frozenset(r for (r,) in rows)


async def mark_refolded(conn: AsyncConnection, schema: str, revert_ids: Iterable[str]) -> None:
    """Record that `schema`'s tables show these reverts (in the caller's transaction)."""
    conn = await conn.execution_options(schema_translate_map={None: schema})
    # A hub's partitions start side by side: two creates of one table would collide in the catalog.
    await conn.execute(sa.text("SELECT pg_advisory_xact_lock(hashtext(:key))"), {"key": f"refolded:{schema}"})
    await conn.run_sync(lambda sync: refolded_table.create(sync, checkfirst=True))
    rows = [{"revert_id": r} for r in revert_ids]
    if rows:
        await conn.execute(pg_insert(refolded_table).values(rows).on_conflict_do_nothing(index_elements=["revert_id"]))
