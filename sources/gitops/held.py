"""What the hubs hold of what a repository governs, asked through their contracts like any client."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from nats.aio.client import Client

from vsmesh.bus.contract_client import ask

ASK_TIMEOUT_S = 30.0
Row = dict[str, Any]


@dataclass
class Held:
    policies: dict[str, Row] = field(default_factory=dict)  # slug → the version in force
    mandates: list[Row] = field(default_factory=list)  # in force
    budgets: dict[str, Decimal] = field(default_factory=dict)  # domain/period/currency → allocated
    entities: dict[str, Row] = field(default_factory=dict)  # subject → the inventory row with its attributes


async def held(nc: Client, kinds: Collection[str]) -> Held:
    """Ask only the hubs whose kinds the repository declares (or declared at its last good commit)."""
    found = Held()
    if "policy" in kinds:
        answer = await ask(nc, "canon-hub", "get_policies", {}, timeout=ASK_TIMEOUT_S)
        found.policies = {p["policy"]: p for p in answer["policies"]}
    if "mandate" in kinds:
        answer = await ask(nc, "canon-hub", "get_mandates", {}, timeout=ASK_TIMEOUT_S)
        found.mandates = list(answer["mandates"])
    if "budget" in kinds:
        answer = await ask(nc, "fin-hub", "get_budgets", {}, timeout=ASK_TIMEOUT_S)
        found.budgets = {f"{b['domain']}/{b['period']}/{b['currency']}": Decimal(str(b["allocated"]))
                         for b in answer["budgets"]}  # fmt: skip
    if "entity" in kinds:
        answer = await ask(nc, "ops-hub", "list_inventory", {}, timeout=ASK_TIMEOUT_S)
        found.entities = {row["entity"]: row for row in answer["inventory"]}
    return found
