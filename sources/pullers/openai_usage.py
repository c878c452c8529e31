"""OpenAI's organization API: completions usage (tokens) and costs (money), in daily buckets grouped by project;
a cost's `line_item` ("gpt-4o-mini-2024-07-18, input") names its model."""

from __future__ import annotations

import calendar
import datetime as dt
from decimal import Decimal

import httpx

from vsmesh.sources.pullers.model import TokenUsagePuller
from vsmesh.sources.pullers.usage_reports import DaySpend, Key, bucket_day, pages, spend_at

DEFAULT_PROJECT = "default"  # usage outside any project comes with project_id null


async def read(
    client: httpx.AsyncClient, puller: TokenUsagePuller, key: str, start: dt.date, end: dt.date
) -> tuple[dict[Key, DaySpend], int]:
    headers = {"Authorization": f"Bearer {key}"}
    window = [("start_time", str(_unix(start))), ("end_time", str(_unix(end))), ("bucket_width", "1d"),
              ("limit", "31"), ("group_by", "project_id")]  # fmt: skip
    api = puller.api() + "/v1/organization"
    usage = await pages(client, f"{api}/usage/completions", [*window, ("group_by", "model")], headers,
                        "OpenAI's completions usage")  # fmt: skip
    costs = await pages(client, f"{api}/costs", [*window, ("group_by", "line_item")], headers, "OpenAI's costs")
    spend: dict[Key, DaySpend] = {}
    read = 0
    for bucket in usage:
        day = bucket_day(bucket["start_time"])
        for row in bucket.get("results") or []:
            read += 1
            s = spend_at(spend, day, row.get("project_id") or DEFAULT_PROJECT, row.get("model") or "unknown")
            s.tokens_in += row.get("input_tokens") or 0
            s.tokens_out += row.get("output_tokens") or 0
    for bucket in costs:
        day = bucket_day(bucket["start_time"])
        for row in bucket.get("results") or []:
            read += 1
            model = (row.get("line_item") or "other").split(",")[0].strip()
            s = spend_at(spend, day, row.get("project_id") or DEFAULT_PROJECT, model)
            amount = row.get("amount") or {}
            s.cost += Decimal(str(amount.get("value", 0)))
            s.currency = (amount.get("currency") or "usd").upper()
    return spend, read


def _unix(day: dt.date) -> int:
    return calendar.timegm(day.timetuple())
