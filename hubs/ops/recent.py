"""The hub's latest events, for the summary: one row per event, trimmed to the newest after each batch."""

from __future__ import annotations

import sqlalchemy as sa

from vsmesh.events.envelope import Event
from vsmesh.hubs.ops.tables import RECENT_EVENTS_KEPT, recent_events
from vsmesh.projectors.changes import Changes
from vsmesh.projectors.projection import Applied


def remember(event: Event, at: Applied, changes: Changes, summary: str) -> None:
    """Record the event in the recent-events log with a one-line summary."""
    changes.insert(
        recent_events,
        {
            "stream": at.stream,
            "seq": at.sequence,
            "event_id": event.id,
            "time": event.time,
            "type": event.type,
            "entity": event.subject,
            "actor": event.actor,
            "summary": summary,
        },
    )


def trim_recent() -> list[sa.Executable]:
    """Statements keeping only the newest rows."""
    return [_TRIM]


def _trim() -> sa.Executable:
    # Keeps the newest rows whatever the batch boundaries were, so a rebuild ends identical.
    newest = (
        sa.select(recent_events.c.stream, recent_events.c.seq)
        .order_by(recent_events.c.time.desc(), recent_events.c.stream.desc(), recent_events.c.seq.desc())
        .limit(RECENT_EVENTS_KEPT)
    )
    keep = sa.tuple_(recent_events.c.stream, recent_events.c.seq).in_(newest)
    return sa.delete(recent_events).where(sa.not_(keep))


_TRIM = _trim()  # built once: the engine compiles a statement once per schema (projectors/driver.py)


def cap_recent(changes: Changes) -> None:
    """Write only the batch's newest rows: the trim after the batch would delete the others anyway."""
    changes.keep_newest(recent_events, RECENT_EVENTS_KEPT, key=lambda r: (r["time"], r["stream"], r["seq"]))
