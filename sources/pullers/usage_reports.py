"""What the providers' usage and cost reports share: daily buckets in pages (`data`, `has_more`, `next_page`),
and one group's (workspace, project) use of one model on one day."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal

import httpx

from vsmesh.sources.pullers.fetch import get_json

MAX_PAGES = 100  # a provider that keeps saying `has_more` is not followed for ever


@dataclass
class DaySpend:
    """One group's (workspace, project) use of one model on one day."""

    day: dt.date
    group: str
    model: str
    tokens_in: int = 0
    tokens_out: int = 0
    cost: Decimal = Decimal(0)
    currency: str = "USD"


Key = tuple[dt.date, str, str]


async def pages(client: httpx.AsyncClient, url: str, params: list[tuple[str, str]], headers: dict[str, str],
                what: str) -> list[dict]:  # fmt: skip
    """Every bucket of a paged report (`data`, `has_more`, `next_page`), in order."""
    buckets: list[dict] = []
    page: str | None = None
    for _ in range(MAX_PAGES):
        body = await get_json(client, url, what=what, params=[*params, *([("page", page)] if page else [])],
                              headers=headers)  # fmt: skip
        buckets += body.get("data") or []
        page = body.get("next_page") if body.get("has_more") else None
        if not page:
            break
    return buckets


def bucket_day(start: str | int) -> dt.date:
    """A bucket's UTC day from its start: RFC 3339 (Anthropic) or Unix seconds (OpenAI)."""
    if isinstance(start, int | float):
        return dt.datetime.fromtimestamp(start, dt.UTC).date()
    return dt.datetime.fromisoformat(str(start).replace("Z", "+00:00")).astimezone(dt.UTC).date()


def spend_at(spend: dict[Key, DaySpend], day: dt.date, group: str, model: str) -> DaySpend:
    """The day's spend of the group on the model, started at nothing the first time."""
    return spend.setdefault((day, group, model), DaySpend(day, group, model))
