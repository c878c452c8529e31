"""Times as vsmesh reads them: a time that names no zone is UTC, everywhere (requests, files, flags)."""

from __future__ import annotations

import datetime as dt


def as_utc(at: dt.datetime) -> dt.datetime:
    """The time itself when it names its zone, else the same wall time in UTC."""
    return at if at.tzinfo else at.replace(tzinfo=dt.UTC)


def at_or_now(at: dt.datetime | None) -> dt.datetime:
    """A request's `now` (read as UTC when it names no zone), or the clock's when it gives none."""
    return dt.datetime.now(dt.UTC) if at is None else as_utc(at)
