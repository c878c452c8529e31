"""A provider's token usage and cost → fin-hub: one `fin-token-spend-recorded` per agent, model and closed UTC day.

Both providers' admin APIs answer usage (tokens) and cost (money) separately, in daily buckets and pages
(`has_more`, `next_page`). Anthropic groups them by workspace (its cost report has no API-key grouping), OpenAI by
project; `agents:` maps a workspace or project id to the agent whose spend it is — the event's actor (`actorkind:
agent`), so canon's per-agent spend threshold applies to it. Spend of an unmapped group is recorded as the group's
own (`actorkind: service`, actor `<provider>:<id>`) unless `unmapped: skip`. Ids derive from the puller, the group,
the model and the day, so a re-pull stores nothing (fin-hub's `known_events`). Today is left out: its figures grow.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping

import httpx
from nats.aio.client import Client

from vsmesh.bus.contract_client import ask
from vsmesh.errors import SourceUnavailable
from vsmesh.sources.pullers import anthropic_usage, openai_usage
from vsmesh.sources.pullers.model import TokenUsagePuller
from vsmesh.sources.pullers.plan import Plan, Planned, event_id
from vsmesh.sources.pullers.usage_reports import DaySpend

FIN = "fin-hub"
ASK_CHUNK = 5000


async def read_spend(
    puller: TokenUsagePuller, environ: Mapping[str, str], today: dt.date
) -> tuple[list[DaySpend], int]:
    """(spend per group, model and closed day, report rows read) from the provider's API."""
    reader = anthropic_usage if puller.provider == "anthropic" else openai_usage
    start = today - dt.timedelta(days=puller.days)
    async with httpx.AsyncClient(timeout=puller.timeout) as client:
        try:
            spend, read = await reader.read(client, puller, puller.api_key.reveal(environ), start, today)
        except (KeyError, TypeError, AttributeError, ValueError, ArithmeticError) as e:
            # A report that is not the provider's format: refused whole (one line), rather than half counted.
            what = f"{type(e).__name__}: {e}"
            raise SourceUnavailable(f"{puller.provider}'s usage or cost report is not in its format ({what})") from None
    closed = [s for s in spend.values() if s.day < today]
    return sorted(closed, key=lambda s: (s.day, s.group, s.model)), read


async def plan_token_usage(puller: TokenUsagePuller, nc: Client, environ: Mapping[str, str], now: dt.datetime) -> Plan:
    """What a pull publishes: each agent's (or group's) spend per model and day that fin-hub does not hold."""
    spend, read = await read_spend(puller, environ, now.astimezone(dt.UTC).date())
    plan = Plan(puller.name, read=read)
    wanted: list[tuple[str, DaySpend]] = []
    for s in spend:
        if s.group not in puller.agents and puller.unmapped == "skip":
            plan.skipped.append(f"{s.group}: no agent is mapped to it (agents:), {s.model} on {s.day} not recorded")
            continue
        wanted.append((event_id("tokens", puller.name, s.group, s.model, s.day), s))
    known: set[str] = set()
    for i in range(0, len(wanted), ASK_CHUNK):
        ids = [w[0] for w in wanted[i : i + ASK_CHUNK]]
        known |= set((await ask(nc, FIN, "known_events", {"ids": ids}))["known"])
    for new_id, s in wanted:
        if new_id in known:
            continue
        agent = puller.agents.get(s.group)
        data = {
            "provider": puller.provider,
            "model": s.model,
            "tokens_in": s.tokens_in,
            "tokens_out": s.tokens_out,
            "cost": {"amount": str(s.cost), "currency": s.currency},
            # fin-hub counts token spend in the month of metadata.incurred_on (the event has no date field)
            "metadata": {"incurred_on": s.day.isoformat(), "group": s.group},
        }
        actor, kind = (agent, "agent") if agent else (f"{puller.provider}:{s.group}", "service")
        why = f"{actor} used {s.model} on {s.day}"
        plan.events.append(Planned("fin-token-spend-recorded", FIN, f"model/{s.model}", data, new_id, why, actor, kind))
    return plan
