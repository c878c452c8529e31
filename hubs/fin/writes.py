"""fin-hub's spend writes: what an agent (or a person) spent, recorded as the caller.

An agent's spend above canon's `agent_spend_threshold` escalates to canon (hubs/canon/couplings.py).
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from pydantic import Field

from vsmesh.hubs.contract import HubContext, Operation
from vsmesh.hubs.core.writes import WriteRequest, publish_as_caller

Currency = Field("EUR", pattern=r"^[A-Z]{3}$", description="ISO 4217 code")
Amount = Field(ge=0, max_digits=20, decimal_places=8, description="an exact amount, e.g. 12.30")


class RecordCostRequest(WriteRequest):
    amount: Decimal = Amount
    currency: str = Currency
    domain: str | None = Field(None, description="the budget domain it counts against")
    service: str | None = Field(None, description="the service it is attributed to (shown in ops-hub)")
    category: str | None = Field(None, description="cloud, hosting, licence, …")
    vendor: str | None = None
    period: str | None = Field(None, description="e.g. 2026-12")
    incurred_on: dt.date | None = None


async def record_cost(ctx: HubContext, request: RecordCostRequest) -> dict[str, Any]:
    data = request.model_dump(mode="json", include={"domain", "service", "category", "vendor", "period", "incurred_on"})
    data["amount"] = {"amount": str(request.amount), "currency": request.currency}
    subject = f"cost/{request.vendor or request.category or 'unattributed'}"
    return await publish_as_caller(ctx, "fin-cost-recorded", request, subject, data)


class RecordTokenSpendRequest(WriteRequest):
    provider: str = Field(min_length=1, description="anthropic, openai, …")
    model: str = Field(min_length=1)
    tokens_in: int = Field(ge=0)
    tokens_out: int = Field(ge=0)
    cost: Decimal = Amount
    currency: str = Currency
    session_id: str | None = None
    domain: str | None = None


async def record_token_spend(ctx: HubContext, request: RecordTokenSpendRequest) -> dict[str, Any]:
    data = request.model_dump(include={"provider", "model", "tokens_in", "tokens_out", "session_id", "domain"})
    data["cost"] = {"amount": str(request.cost), "currency": request.currency}
    return await publish_as_caller(ctx, "fin-token-spend-recorded", request, f"model/{request.model}", data)


def write_operations() -> list[Operation]:
    return [
        Operation(
            "record_cost",
            RecordCostRequest,
            record_cost,
            "record money spent (escalates above policy)",
            writes=True,
            spends="amount",
        ),
        Operation(
            "record_token_spend",
            RecordTokenSpendRequest,
            record_token_spend,
            "record model tokens used",
            writes=True,
            spends="cost",
        ),
    ]
