"""OpenCost's `/allocation/compute` → fin-hub: one cost per service and closed UTC day.

The pull asks for the last `days` whole UTC days (an RFC 3339 window ending at today's midnight) in steps of a
day, aggregated as configured (`namespace`, `label:app`, …); OpenCost answers one allocation set per day. Each
(service, day) is one `fin-cost-recorded` whose id derives from the puller, the service and the day, so a re-pull
stores nothing; when OpenCost revises a day's figure (late prices, a reconciled bill), fin-hub's figure differs
and the pull publishes one `fin-cost-corrected` naming the cost it corrects (its id from the figure, so the same
revision is stored once). Today is left out: its figure grows all day and would be a correction per pull.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

import httpx
from nats.aio.client import Client

from vsmesh.bus.contract_client import ask
from vsmesh.errors import SourceUnavailable
from vsmesh.sources.pullers.fetch import get_json
from vsmesh.sources.pullers.model import OpenCostPuller
from vsmesh.sources.pullers.plan import Plan, Planned, event_id

FIN = "fin-hub"
PLACES = Decimal("0.0001")  # OpenCost's floats carry noise below this: it must not read as a revision
ASK_CHUNK = 5000  # ids per get_cost_figures (its request's limit)


@dataclass(frozen=True)
class DayCost:
    service: str
    day: dt.date
    amount: Decimal
    aggregates: tuple[str, ...]  # OpenCost's names summed into it (two namespaces may be one service)


def window(days: int, today: dt.date) -> str:
    start = today - dt.timedelta(days=days)
    return f"{start.isoformat()}T00:00:00Z,{today.isoformat()}T00:00:00Z"


async def read_costs(
    puller: OpenCostPuller, environ: Mapping[str, str], today: dt.date
) -> tuple[list[DayCost], int, list[str]]:
    """(costs per service and day, allocations read, allocations skipped with why) from OpenCost."""
    headers = {"Authorization": f"Bearer {puller.token.reveal(environ)}"} if puller.token else None
    params = {"window": window(puller.days, today), "aggregate": puller.aggregate, "step": "1d",
              "accumulate": "false", "includeIdle": "false"}  # fmt: skip
    async with httpx.AsyncClient(timeout=puller.timeout) as client:
        url = puller.url.rstrip("/") + "/allocation/compute"
        body = await get_json(client, url, what="OpenCost", params=params, headers=headers)
    sets = _sets(body)
    totals: dict[tuple[str, dt.date], Decimal] = defaultdict(Decimal)
    names: dict[tuple[str, dt.date], list[str]] = defaultdict(list)
    read, skipped = 0, []
    for allocations in sets:
        for name, allocation in (allocations or {}).items():
            read += 1
            if name in puller.skip:
                continue
            try:
                day, amount = _day(allocation, today), _amount(allocation)
            except ValueError as e:
                skipped.append(f"{name}: {e}")
                continue
            if day is None:
                continue  # today's partial figure, where OpenCost added it
            key = (puller.services.get(name, name), day)
            totals[key] += amount
            names[key].append(name)
    costs = [DayCost(s, d, total.quantize(PLACES), tuple(names[(s, d)])) for (s, d), total in sorted(totals.items())]
    return costs, read, skipped


def _sets(body: Any) -> list[Any]:
    if not isinstance(body, dict) or body.get("code", 200) != 200 or not isinstance(body.get("data"), list):
        message = body.get("message") if isinstance(body, dict) else None
        raise SourceUnavailable(f"OpenCost answered no allocation sets: {message or str(body)[:160]}")
    return body["data"]


def _day(allocation: Any, today: dt.date) -> dt.date | None:
    if not isinstance(allocation, dict):
        raise ValueError("not an allocation object")
    start = (allocation.get("window") or {}).get("start") or allocation.get("start")
    try:
        day = dt.datetime.fromisoformat(str(start).replace("Z", "+00:00")).astimezone(dt.UTC).date()
    except ValueError:
        raise ValueError(f"window start {start!r} is not an RFC 3339 time") from None
    return day if day < today else None


def _amount(allocation: dict[str, Any]) -> Decimal:
    raw = allocation.get("totalCost")
    try:
        amount = Decimal(str(raw))
    except InvalidOperation:
        raise ValueError(f"totalCost {raw!r} is not a number") from None
    if not amount.is_finite() or amount < 0:
        raise ValueError(f"totalCost {raw!r} is not a cost")
    return amount


async def plan_opencost(puller: OpenCostPuller, nc: Client, environ: Mapping[str, str], now: dt.datetime) -> Plan:
    """What a pull publishes: costs fin-hub has not recorded, and corrections where its figure differs."""
    costs, read, skipped = await read_costs(puller, environ, now.astimezone(dt.UTC).date())
    plan = Plan(puller.name, read=read, skipped=skipped)
    ids = [event_id("opencost", puller.name, c.service, c.day) for c in costs]
    stored: dict[str, Any] = {}
    for i in range(0, len(ids), ASK_CHUNK):
        stored |= (await ask(nc, FIN, "get_cost_figures", {"ids": ids[i : i + ASK_CHUNK]}))["figures"]
    for cost, original in zip(costs, ids, strict=True):
        money = {"amount": str(cost.amount), "currency": puller.currency}
        data = {
            "amount": money,
            "service": cost.service,
            "category": "kubernetes",
            "vendor": "opencost",
            "domain": puller.domain,
            "incurred_on": cost.day.isoformat(),
            "metadata": {"opencost": {"aggregate": puller.aggregate, "names": list(cost.aggregates)}},
        }
        data = {k: v for k, v in data.items() if v is not None}
        subject = f"service/{cost.service}"
        before = stored.get(original)
        if before is None:
            plan.events.append(Planned("fin-cost-recorded", FIN, subject, data, original, "new"))
        elif _differs(before, money):
            previous = {"amount": str(before["amount"]), "currency": before["currency"]}
            revised = {**data, "corrects": original, "previous": previous}
            why = f"revised {previous['amount']} → {money['amount']} {money['currency']}"
            plan.events.append(
                Planned("fin-cost-corrected", FIN, subject, revised, event_id(original, *money.values()), why)
            )
    return plan


def _differs(stored: dict[str, Any], money: dict[str, str]) -> bool:
    return stored["currency"] != money["currency"] or Decimal(str(stored["amount"])) != Decimal(money["amount"])
