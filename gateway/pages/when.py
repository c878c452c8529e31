"""Times as people read them on the pages: "3 min ago", "in 4 days", with the exact ISO time on hover.

A contract answers times as ISO 8601 text; the pages show each as `<time datetime=ISO title=ISO>3 min ago</time>`,
worded when the page is rendered (static/times.js words them again as the page stays open). A value that is
not a time with a time of day (a date, a month, an id) is left as it is.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

from markupsafe import Markup, escape

from vsmesh.clock import as_utc

# A date with a time of day: "2026-12-07T12:23:22.69Z", "2026-12-07 12:23:22+00:00" (not "2026-12" or a date).
_ISO = re.compile(r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?$")


def as_time(value: Any) -> dt.datetime | None:
    """`value` as an aware datetime (a naive one read as UTC), or None when it is no time of day."""
    if isinstance(value, dt.datetime):
        at = value
    elif isinstance(value, str) and _ISO.match(value.strip()):
        try:
            at = dt.datetime.fromisoformat(value.strip())
        except ValueError:
            return None
    else:
        return None
    return as_utc(at)


def ago(at: dt.datetime, now: dt.datetime) -> str:
    """How long before (or after) `now` in the unit a person reads it in."""
    seconds = (now - at).total_seconds()
    gone = abs(seconds)
    if gone < 45:
        return "just now"
    # Halves round up, as static/times.js's Math.round does.
    if gone < 90 * 60:
        n, unit = int(gone / 60 + 0.5), "min"
    elif gone < 36 * 3600:
        n, unit = int(gone / 3600 + 0.5), "h"
    elif gone < 60 * 86400:
        n = int(gone / 86400 + 0.5)
        unit = "day" if n == 1 else "days"
    else:
        return f"on {at.day} {at:%b %Y}"
    return f"{n} {unit} ago" if seconds > 0 else f"in {n} {unit}"


def when(value: Any, now: dt.datetime | None = None) -> Any:
    """A `<time>` element for a time (worded against `now`, default the clock); anything else unchanged."""
    at = as_time(value)
    if at is None:
        return value
    exact = at.astimezone(dt.UTC).isoformat()
    words = ago(at, now or dt.datetime.now(dt.UTC))
    return Markup(f'<time datetime="{exact}" title="{exact}">{escape(words)}</time>')
