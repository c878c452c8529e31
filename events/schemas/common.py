"""Value types shared by several families. Defines no events, so the registry never reads it as a family."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Literal

import msgspec

Severity = Literal["info", "low", "medium", "high", "critical"]
Rag = Literal["green", "amber", "red"]

EventId = Annotated[str, msgspec.Meta(min_length=1, description="the id of an earlier event")]
Currency = Annotated[str, msgspec.Meta(pattern="^[A-Z]{3}$", description="ISO 4217 code, e.g. EUR")]


class Money(msgspec.Struct, kw_only=True, frozen=True):
    """An exact amount as a decimal string ("12.30", "0.00042") plus its ISO 4217 currency."""

    # Decimal, not float or integer cents: token prices have sub-cent precision, and the JSON form
    # is a string, which every language reads without rounding.
    amount: Decimal
    currency: Currency
