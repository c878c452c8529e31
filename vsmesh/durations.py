"""Durations as people write them: `500ms`, `90s`, `15m`, `26h`, `3d`, `2w`, or a bare number of seconds.

Probe conditions, canon's policy values, `--since`/`--as-of` ages and stream retentions all read them here.
"""

from __future__ import annotations

import datetime as dt
import re

SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, "w": 7 * 86400.0}
_DURATION = re.compile(r"^(\d+(?:\.\d+)?)\s*(ms|s|m|h|d|w)$")


def is_duration(text: str) -> bool:
    """Whether the text is a number with a unit (a bare number is not: it may mean something else)."""
    return _DURATION.match(text.strip()) is not None


def parse_duration(text: str | float | int) -> float:
    """Seconds from a duration or a bare number of seconds; ValueError naming how to write one."""
    if isinstance(text, int | float) and not isinstance(text, bool):
        return float(text)
    found = _DURATION.match(str(text).strip())
    if found:
        return float(found.group(1)) * SECONDS[found.group(2)]
    try:
        return float(str(text).strip())
    except ValueError:
        raise ValueError(f"{text!r} is no duration; write e.g. 500ms, 30s, 5m, 26h, 3d or 2w") from None


def format_duration(seconds: float) -> str:
    """`3d`, `26h`, `5m`, `40s`, `250ms`: read at a glance, where raw seconds (259200) are not."""
    if seconds < 0:
        return "-" + format_duration(-seconds)
    if seconds < 0.0005:
        return "0s"
    for unit, size, below in (("ms", 0.001, 1), ("s", 1, 120), ("m", 60, 7200), ("h", 3600, 259_200)):
        if seconds < below:
            return f"{seconds / size:.0f}{unit}"
    return f"{seconds / 86_400:.0f}d"


def until_time(text: str, now: dt.datetime | None = None) -> dt.datetime:
    """A moment from a duration from now (`2h`) or an ISO time (UTC when it names no zone); ValueError naming both
    forms."""
    text = text.strip()
    if is_duration(text):
        return (now or dt.datetime.now(dt.UTC)) + dt.timedelta(seconds=parse_duration(text))
    try:
        when = dt.datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f"{text!r}: give a duration (2h, 3d) or an ISO time (2026-12-24T08:00:00Z)") from None
    return when if when.tzinfo else when.replace(tzinfo=dt.UTC)
