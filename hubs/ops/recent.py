"""The hub's latest events, for the summary: one row per event, trimmed to the newest after each batch."""

from __future__ import annotations

import sqlalchemy as sa

from vsmesh.events.envelope import Event
from vsmesh.hubs.ops.tables import RECENT_EVENTS_KEPT, recent_events
from vsmesh.projectors.engine.changes import Changes
from vsmesh.projectors.engine.projection import Applied


def remember(event: Event, at: Applied, changes: Changes, summary: str) -> None:
    """Record the event in the recent-events log with a one-line summary (built only if among the newest)."""
    key = (event.time, at.stream, at.sequence)  # the trim's order (below)
    changes.insert_newest(recent_events, RECENT_EVENTS_KEPT, key, _row, (event, at, summary))


def _row(event: Event, at: Applied, summary: str) -> dict:
    return {
        "stream": at.stream,
        "seq": at.sequence,
        "event_id": event.id,
        "time": event.time,
        "type": event.type,
        "entity": event.subject,
        "actor": event.actor,
        "summary": summary,
    }


def trim_recent() -> list[sa.Executable]:
    """Statements keeping only the newest rows."""
    return [_TRIM]


def _trim() -> sa.Executable:
    # Keeps the newest rows whatever the batch boundaries were, so a rebuild ends identical. Deletes what
    # sorts before the oldest row kept: two short walks of the (time, stream, seq) index per batch, where
    # "not among the newest" read the whole table, dead rows included (bench/latency.py).
    order = (recent_events.c.time, recent_events.c.stream, recent_events.c.seq)
    newest_first = sa.select(*order).order_by(*(c.desc() for c in order))
    oldest_kept = newest_first.offset(RECENT_EVENTS_KEPT - 1).limit(1).scalar_subquery()
    return sa.delete(recent_events).where(sa.tuple_(*order) < oldest_kept)


_TRIM = _trim()  # built once: the engine compiles a statement once per schema (projectors/engine/driver.py)
