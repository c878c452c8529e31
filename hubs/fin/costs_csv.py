"""Cost CSV rows → fin event parts, with ids that make a re-import publish nothing new.

"The same row" is the same spend, not the same line: a row's id is a UUIDv5 of its normalised content
(type, amount, currency, date, vendor, …) plus how many identical rows came before it in the file. So
re-importing a file, or a later export that overlaps it (rows shifted, new rows added), gives the old rows
their old ids, while two genuinely identical charges in one file stay two events. The file's name and
line numbers are not part of the id; line numbers only name bad rows.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
import uuid
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

IMPORT_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "vsmesh:fin-hub:import-costs")
ALIASES = {"date": "incurred_on", "cost": "amount", "session": "session_id"}
TOKEN_COLUMNS = ("tokens_in", "tokens_out")


@dataclass(frozen=True)
class CostRow:
    """One good row: the event to publish and where it came from."""

    line: int
    event_type: str
    subject: str | None
    data: dict[str, Any]
    event_id: str


@dataclass(frozen=True)
class BadRow:
    line: int
    reason: str


def read_rows(lines: Iterable[str], default_currency: str) -> tuple[list[CostRow], list[BadRow]]:
    """Parse a cost CSV (header row first); bad rows are reported by line, the rest still parsed."""
    reader = csv.DictReader(lines)
    good: list[CostRow] = []
    bad: list[BadRow] = []
    seen: Counter[str] = Counter()
    for raw in reader:
        row = {ALIASES.get(_key(k), _key(k)): (v or "").strip() for k, v in raw.items() if k is not None}
        try:
            event_type, data = _event_parts(row, default_currency)
        except ValueError as e:
            bad.append(BadRow(reader.line_num, str(e)))
            continue
        content = json.dumps({"type": event_type, **data}, sort_keys=True, default=str)
        seen[content] += 1
        event_id = str(uuid.uuid5(IMPORT_NAMESPACE, f"{content}#{seen[content]}"))
        good.append(CostRow(reader.line_num, event_type, _subject(data), data, event_id))
    return good, bad


def _key(name: str) -> str:
    return name.strip().lower().replace(" ", "_").replace("-", "_")


def _event_parts(row: dict[str, str], default_currency: str) -> tuple[str, dict[str, Any]]:
    amount = _decimal(row.get("amount", ""))
    money = {"amount": str(amount), "currency": (row.get("currency") or default_currency).upper()}
    incurred_on = _date(row.get("incurred_on", ""))
    description = row.get("description")
    metadata: dict[str, Any] = {"description": description} if description else {}
    if any(row.get(c) for c in TOKEN_COLUMNS):
        if incurred_on:  # the token event has no date field: the hub reads it from metadata
            metadata["incurred_on"] = incurred_on
        data = {
            "provider": _required(row, "provider"),
            "model": _required(row, "model"),
            "tokens_in": _count(row, "tokens_in"),
            "tokens_out": _count(row, "tokens_out"),
            "cost": money,
            "session_id": row.get("session_id") or None,
            "domain": row.get("domain") or None,
        }
        return "fin-token-spend-recorded", _compact(data, metadata)
    data = {
        "amount": money,
        "incurred_on": incurred_on,
        **{k: row.get(k) or None for k in ("domain", "service", "category", "vendor", "period")},
    }
    return "fin-cost-recorded", _compact(data, metadata)


def _compact(data: dict[str, Any], metadata: dict[str, Any]) -> dict[str, Any]:
    out = {k: v for k, v in data.items() if v is not None}
    return {**out, "metadata": metadata} if metadata else out


def _decimal(text: str) -> Decimal:
    if not text:
        raise ValueError("no amount")
    try:
        value = Decimal(text.replace(",", "").replace(" ", ""))
    except InvalidOperation:
        raise ValueError(f"amount {text!r} is not a number") from None
    if not value.is_finite():
        raise ValueError(f"amount {text!r} is not a number")
    # normalize(): "12.30" and "12.3" are the same money, so the same row.
    return value.normalize() if value != value.to_integral() else value.quantize(Decimal(1))


def _date(text: str) -> str | None:
    if not text:
        return None
    try:
        return dt.date.fromisoformat(text).isoformat()
    except ValueError:
        raise ValueError(f"date {text!r} is not YYYY-MM-DD") from None


def _required(row: dict[str, str], name: str) -> str:
    if not row.get(name):
        raise ValueError(f"token spend needs a {name}")
    return row[name]


def _count(row: dict[str, str], name: str) -> int:
    text = row.get(name) or "0"
    try:
        value = int(text.replace(",", ""))
    except ValueError:
        raise ValueError(f"{name} {text!r} is not a whole number") from None
    if value < 0:
        raise ValueError(f"{name} is negative")
    return value


def _subject(data: dict[str, Any]) -> str | None:
    # Per-service costs are attributed to the service (ops shows them); else to the domain.
    if data.get("service"):
        return f"service/{data['service']}"
    return f"domain/{data['domain']}" if data.get("domain") else None
