"""Values written into SQL as literals, for statements sent as one simple-query message (driver.literal_rows).

Only what can be written exactly: None, booleans, integers, finite floats, Decimals, text without a NUL,
timezone-aware datetimes, dates and UUIDs. Anything else gives None, and the caller sends the rows as
parameters instead (a NUL cannot travel in a simple-query message, and PostgreSQL refuses it as a parameter
with the error the quarantine needs).
"""

from __future__ import annotations

import datetime
import decimal
import math
import uuid
from collections.abc import Callable
from typing import Any


def literal(value: Any) -> str | None:
    """`value` as a SQL literal, or None when it cannot be written exactly."""
    write = _WRITERS.get(type(value))
    return write(value) if write is not None else None


def text(value: str) -> str | None:
    """An escape-string literal: backslashes and quotes doubled, so the text is read back byte for byte whatever
    `standard_conforming_strings` says."""
    if "\x00" in value or (not value.isascii() and not _utf8(value)):
        return None
    return "E'" + value.replace("\\", "\\\\").replace("'", "''") + "'"


def _utf8(value: str) -> bool:
    try:
        value.encode()
    except UnicodeEncodeError:  # a lone surrogate: the message could not be sent
        return False
    return True


def _signed(written: str) -> str:
    # A cast binds tighter than a minus: -9223372036854775808::BIGINT casts the positive number first, which
    # bigint cannot hold. In parentheses the number is negative before it is cast.
    return f"({written})" if written.startswith("-") else written


def _float(value: float) -> str | None:
    if not math.isfinite(value):
        return None
    return _signed(repr(value))


def _decimal(value: decimal.Decimal) -> str | None:
    return _signed(str(value)) if value.is_finite() else None


def _datetime(value: datetime.datetime) -> str | None:
    if value.tzinfo is None or value.utcoffset() is None:
        return None  # asyncpg and a literal would read a naive time in different zones
    return f"'{value.isoformat()}'"


_WRITERS: dict[type, Callable[[Any], str | None]] = {
    type(None): lambda _: "NULL",
    bool: lambda v: "true" if v else "false",
    int: lambda v: _signed(str(v)),
    float: _float,
    decimal.Decimal: _decimal,
    str: text,
    datetime.datetime: _datetime,
    datetime.date: lambda v: f"'{v.isoformat()}'",
    uuid.UUID: lambda v: f"'{v}'",
}
