"""Anthropic's Admin API: the Messages usage report (tokens) and the cost report (money, in cents), in daily
buckets grouped by workspace and model. Token counts in: uncached input, cache writes (5 min and 1 h) and cache
reads; a cost row without a model (web search, code execution) counts under its cost type."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import httpx

from vsmesh.sources.pullers.model import TokenUsagePuller
from vsmesh.sources.pullers.usage_reports import DaySpend, Key, bucket_day, pages, spend_at

VERSION = "2023-06-01"
DEFAULT_WORKSPACE = "default"  # the API names the default workspace null
CENTS = Decimal(100)


async def read(
    client: httpx.AsyncClient, puller: TokenUsagePuller, key: str, start: dt.date, end: dt.date
) -> tuple[dict[Key, DaySpend], int]:
    headers = {"x-api-key": key, "anthropic-version": VERSION}
    window = [("starting_at", f"{start.isoformat()}T00:00:00Z"), ("ending_at", f"{end.isoformat()}T00:00:00Z"),
              ("bucket_width", "1d"), ("limit", "31"), ("group_by[]", "workspace_id")]  # fmt: skip
    api = puller.api() + "/v1/organizations"
    usage = await pages(client, f"{api}/usage_report/messages", [*window, ("group_by[]", "model")], headers,
                        "Anthropic's usage report")  # fmt: skip
    costs = await pages(client, f"{api}/cost_report", [*window, ("group_by[]", "description")], headers,
                        "Anthropic's cost report")  # fmt: skip
    spend: dict[Key, DaySpend] = {}
    read = 0
    for bucket in usage:
        day = bucket_day(bucket["starting_at"])
        for row in bucket.get("results") or []:
            read += 1
            s = spend_at(spend, day, row.get("workspace_id") or DEFAULT_WORKSPACE, row.get("model") or "unknown")
            writes = row.get("cache_creation") or {}
            s.tokens_in += (row.get("uncached_input_tokens") or 0) + (row.get("cache_read_input_tokens") or 0)
            s.tokens_in += sum(writes.get(k) or 0 for k in ("ephemeral_5m_input_tokens", "ephemeral_1h_input_tokens"))
            s.tokens_out += row.get("output_tokens") or 0
    for bucket in costs:
        day = bucket_day(bucket["starting_at"])
        for row in bucket.get("results") or []:
            read += 1
            model = row.get("model") or row.get("cost_type") or "other"
            s = spend_at(spend, day, row.get("workspace_id") or DEFAULT_WORKSPACE, model)
            s.cost += Decimal(str(row["amount"])) / CENTS
            s.currency = (row.get("currency") or "USD").upper()
    return spend, read
