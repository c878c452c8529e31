"""fin-hub's page: the strategic view (runway and its burn, budgets against spend, cost per service, token spend
per agent and model, alerts)."""

from __future__ import annotations

import asyncio
from decimal import Decimal
from typing import Any

from vsmesh.gateway.pages.page import Asker, Page


async def strategic(ask_: Asker) -> dict[str, Any]:
    """fin-hub's: runway with its burn split (variable and committed), budgets against spend, cost per
    service, token spend per agent (and by model), alerts."""
    summary, spend = await asyncio.gather(ask_("fin-hub", "get_domain_summary"), ask_("fin-hub", "get_spend"))
    runway = summary["runway"]
    per_actor = spend["token_spend_per_actor"]
    return {
        "runway": runway,
        "burn": burn_split(runway),
        "budgets": summary["budgets"],
        "costs": spend["cost_per_service"],
        "agents": [a for a in per_actor if a["actor_kind"] == "agent"],
        "others": [a for a in per_actor if a["actor_kind"] != "agent"],
        "models": summary["token_spend"],
        "alerts": summary["alerts"],
    }


def burn_split(runway: dict[str, Any]) -> list[dict[str, Any]]:
    """The monthly burn's parts with their share in whole percent (money arrives as exact decimal text)."""
    variable, committed = Decimal(str(runway["variable_monthly"])), Decimal(str(runway["committed_monthly"]))
    total = variable + committed
    parts = [("variable", "variable (recent spend)", variable), ("committed", "committed (contracts)", committed)]
    shown = [
        {"key": key, "label": label, "amount": amount, "share": round(amount * 100 / total) if total else 0}
        for key, label, amount in parts
    ]
    return [*shown, {"key": "total", "label": "total", "amount": total, "share": 100 if total else 0}]


PAGES = (Page("strategic", "Finance", "strategic", ("fin-hub",), "fin-hub/strategic.html", strategic),)
