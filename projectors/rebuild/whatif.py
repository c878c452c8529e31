"""What-if copies: a hub rebuilt as it would be without one actor's events (and, with `cascade`, without what
they caused across hubs), so a person sees what an agent changed before deciding to revert it.

A what-if copy is a point-in-time copy (projectors/rebuild/build.py) whose build leaves out a set of event ids.
The set is found once, when the build starts: the actor's events on the hub's streams (since a moment, if
given) or, with `cascade`, on every horizon stream, with every event whose causation id leads back to one of
them (the chain `vsmesh revert --cascade` follows). It is pinned to the streams' heads of that moment, so the
copy and its set describe one log.

The engine already skips ids a hub's reverts table names (projectors/engine/reverted.py), so the build seeds that
table with one row per left-out id (`revert_id` `what-if:<id>`) and, once the copy is finished, moves those
rows to `vsmesh_excluded`: the copy's reverts table then equals the live hub's, and `vsmesh diff` shows only
what the left-out events did. An interrupted build still holds the rows, so its resume leaves out the same.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict

import msgspec
import sqlalchemy as sa
from nats.js import JetStreamContext
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncConnection

from vsmesh.bus.provenance import decode_stored
from vsmesh.bus.reader import Start, StreamReader
from vsmesh.bus.streams import HORIZON_STREAMS, stream_info
from vsmesh.errors import ConfigError, InvalidEvent
from vsmesh.events.envelope import Event
from vsmesh.projectors.engine.pipeline import Until, stop_for
from vsmesh.projectors.engine.projection import Projection

PREFIX = "what-if:"
EXCLUDED_TABLE = "vsmesh_excluded"


class Without(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """What a what-if copy leaves out: the actor's events (from `since`), and with `cascade` what they caused."""

    actor: str
    since: dt.datetime | None = None
    cascade: bool = False

    def describe(self) -> str:
        since = f" since {self.since.isoformat()}" if self.since else ""
        return f"without {self.actor}{since}{' and what it caused' if self.cascade else ''}"


_excluded_metadata = sa.MetaData()
excluded_table = sa.Table(
    EXCLUDED_TABLE,
    _excluded_metadata,
    sa.Column("event_id", sa.Text, primary_key=True),
    sa.Column("type", sa.Text, nullable=False),
    sa.Column("entity", sa.Text),
    sa.Column("actor", sa.Text),
    sa.Column("caused_by", sa.Text),  # the left-out event it descends from (None: the actor's own)
)


async def pinned(js: JetStreamContext, projection: Projection, until: Until) -> Until:
    """`until`, or the heads of the hub's streams now, so the left-out set and the copy describe one log."""
    if until:
        return until
    streams = dict.fromkeys([*HORIZON_STREAMS, *projection.streams])
    return Until(seq={stream: (await stream_info(js, stream)).state.last_seq for stream in streams})


async def left_out(js: JetStreamContext, projection: Projection, without: Without, until: Until) -> list[dict]:
    """The hub's events the copy leaves out, as rows of `vsmesh_excluded`."""
    # Without --cascade only the hub's own events matter; what they caused elsewhere needs every stream.
    subjects = {s: f"{s.lower()}.>" for s in HORIZON_STREAMS} if without.cascade else dict(projection.streams)
    events = await _history(js, subjects, without.since, until)
    mine = [e for e in events if e.actor == without.actor]
    if not mine:
        since = f" since {without.since.isoformat()}" if without.since else ""
        where = "" if without.cascade else f" on {projection.hub} (--cascade also follows what it did elsewhere)"
        raise ConfigError(
            f"{without.actor} did nothing{since}{where}; `vsmesh audit --actor {without.actor}` lists actions"
        )
    rows = {e.id: _row(e, None) for e in mine}
    if without.cascade:
        for cause, effect in caused(mine, events):
            rows.setdefault(effect.id, _row(effect, cause.id))
    ours = {e.id for e in events if e.hub == projection.hub}
    return [r for r in rows.values() if r["event_id"] in ours]


def caused(roots: list[Event], events: list[Event]) -> list[tuple[Event, Event]]:
    """(root, effect) for everything the roots caused, directly or through what they caused, in causal order."""
    children: dict[str, list[Event]] = defaultdict(list)
    for e in events:
        if e.causationid and e.causationid != e.id:
            children[e.causationid].append(e)
    found: list[tuple[Event, Event]] = []
    seen = {r.id for r in roots}
    for root in roots:
        queue = [root]
        while queue:
            for child in children.get(queue.pop(0).id, []):
                if child.id not in seen:
                    seen.add(child.id)
                    found.append((root, child))
                    queue.append(child)
    return found


async def seed(conn: AsyncConnection, projection: Projection, schema: str, rows: list[dict]) -> None:
    """Record the left-out ids in the build's schema: as reverts the engine skips, and in `vsmesh_excluded`."""
    target = await conn.execution_options(schema_translate_map={None: schema})
    await target.run_sync(lambda sync: excluded_table.create(sync, checkfirst=True))
    if not rows:
        return
    await target.execute(pg_insert(excluded_table).values(rows).on_conflict_do_nothing())
    skips = [{"revert_id": PREFIX + r["event_id"], "event_id": r["event_id"], "reason": "what-if"} for r in rows]
    await target.execute(pg_insert(projection.reverted).values(skips).on_conflict_do_nothing())


async def settle(conn: AsyncConnection, projection: Projection, schema: str) -> None:
    """A finished copy: its reverts table keeps only real reverts (the left-out ids stay in vsmesh_excluded)."""
    target = await conn.execution_options(schema_translate_map={None: schema})
    table = projection.reverted
    await target.execute(sa.delete(table).where(table.c.revert_id.startswith(PREFIX)))


async def excluded_in(conn: AsyncConnection, schema: str) -> list[dict]:
    """The left-out events of a what-if copy (empty for any other schema)."""
    exists = await conn.execute(sa.text("SELECT to_regclass(:t)"), {"t": f'"{schema}".{EXCLUDED_TABLE}'})
    if exists.scalar_one() is None:
        return []
    rows = await conn.execute(sa.text(f'SELECT * FROM "{schema}".{EXCLUDED_TABLE} ORDER BY event_id'))
    return [dict(r) for r in rows.mappings()]


def _row(event: Event, caused_by: str | None) -> dict:
    return {
        "event_id": event.id,
        "type": event.type,
        "entity": event.subject,
        "actor": event.actor,
        "caused_by": caused_by,
    }


async def _history(
    js: JetStreamContext, subjects: dict[str, str], since: dt.datetime | None, until: Until
) -> list[Event]:
    """Every valid event on those streams and subjects (from `since`, up to `until`), by time."""
    found: list[Event] = []
    start = Start(at_time=since) if since else Start()
    for stream, subject in subjects.items():
        async with StreamReader(js, stream, subject, start) as reader:
            async for batch in reader.drain_to_head(1000, stop=stop_for(until, stream)):
                for msg in batch:
                    try:
                        found.append(decode_stored(msg.data, msg.headers, msg.subject))
                    except InvalidEvent:
                        continue  # quarantined on every read path: nobody's action
    found.sort(key=lambda e: e.time)
    return found
