"""fin-hub over NATS: its events in, its answers out (runway, budgets, summary)."""

import uuid
from decimal import Decimal as D

import pytest

from tests.currencies import unique_currency
from vsmesh.bus.contract_client import ask
from vsmesh.bus.publisher import Publisher
from vsmesh.errors import ContractError

HUB = "fin-hub"


async def send(nc, settings, events: list[tuple[str, str | None, dict]]) -> dict[str, int]:
    """Publish (type, subject, data) events; the wait_for_seq that makes the next ask see them all."""
    publisher = Publisher(nc.jetstream(), settings)
    built = [publisher.build(t, hub=HUB, subject=s, data=d) for t, s, d in events]
    wait: dict[str, int] = {}
    for stored in await publisher.publish_many(built):
        wait[stored.stream] = max(wait.get(stored.stream, 0), stored.sequence)
    return wait


def money(amount: str, currency: str) -> dict:
    return {"amount": amount, "currency": currency}


async def test_runway_on_known_numbers(nc, settings, running_mesh):
    cur = unique_currency()
    wait = await send(
        nc,
        settings,
        [
            (
                "fin-balance-recorded",
                None,
                {"balance": money("12000", cur), "account": f"bank-{cur}", "as_of": "2026-11-01"},
            ),
            # October's spend, 700 of costs and 300 of tokens, is the variable burn: 1 000 a month.
            ("fin-cost-recorded", None, {"amount": money("700", cur), "incurred_on": "2026-10-05"}),
            (
                "fin-token-spend-recorded",
                None,
                {
                    "provider": "anthropic",
                    "model": "claude",
                    "tokens_in": 10,
                    "tokens_out": 5,
                    "cost": money("300", cur),
                    "metadata": {"incurred_on": "2026-10-07"},
                },
            ),
            (
                "fin-commitment-recorded",
                None,
                {"kind": "salary", "amount": money("1000", cur), "starts_on": "2026-01-01"},
            ),
        ],
    )
    runway = await ask(nc, HUB, "get_runway", {"as_of": "2026-11-15", "currency": cur, "wait_for_seq": wait})
    # 12 000 / (1 000 variable + 1 000 committed) = 6 months: not below the default 6-month threshold.
    assert D(runway["balance"]) == 12000 and D(runway["monthly_burn"]) == 2000
    assert (D(runway["variable_monthly"]), D(runway["committed_monthly"])) == (1000, 1000)
    assert D(runway["months_remaining"]) == D("6.00") and runway["below_threshold"] is False

    # A new balance on a later day replaces the account's old one: 3 000 lasts 1.5 months, which alerts.
    wait = await send(
        nc,
        settings,
        [
            (
                "fin-balance-recorded",
                None,
                {"balance": money("3000", cur), "account": f"bank-{cur}", "as_of": "2026-11-10"},
            )
        ],
    )
    runway = await ask(nc, HUB, "get_runway", {"as_of": "2026-11-15", "currency": cur, "wait_for_seq": wait})
    assert D(runway["months_remaining"]) == D("1.50") and runway["below_threshold"] is True


async def test_budgets_add_up_spend_and_commitments_and_alert_at_90_percent(nc, settings, running_mesh):
    cur, team, quiet = unique_currency(), f"team-{uuid.uuid4().hex[:6]}", f"quiet-{uuid.uuid4().hex[:6]}"
    wait = await send(
        nc,
        settings,
        [
            (
                "fin-budget-allocated",
                f"domain/{team}",
                {"domain": team, "period": "2026-Q4", "amount": money("1000", cur)},
            ),
            (
                "fin-cost-recorded",
                f"domain/{team}",
                {"amount": money("600.50", cur), "domain": team, "incurred_on": "2026-10-03"},
            ),
            (
                "fin-token-spend-recorded",
                None,
                {
                    "provider": "openai",
                    "model": "gpt",
                    "tokens_in": 1,
                    "tokens_out": 1,
                    "domain": team,
                    "cost": money("319.50", cur),
                    "metadata": {"incurred_on": "2026-11-20"},
                },
            ),
            ("fin-cost-recorded", None, {"amount": money("99", cur), "domain": team, "incurred_on": "2027-01-02"}),
            (
                "fin-commitment-recorded",
                None,
                {
                    "kind": "subscription",
                    "amount": money("100", cur),
                    "domain": team,
                    "starts_on": "2026-11-01",
                },
            ),
            ("fin-budget-allocated", None, {"domain": quiet, "period": "2026-11", "amount": money("500", cur)}),
            ("fin-cost-recorded", None, {"amount": money("100", cur), "domain": quiet, "period": "2026-11"}),
        ],
    )
    answer = await ask(nc, HUB, "get_budgets", {"domain": team, "wait_for_seq": wait})
    [budget] = answer["budgets"]
    # Q4 spend is 600.50 + 319.50 (January's 99 is outside); the subscription is due in Nov and Dec.
    assert (D(budget["allocated"]), D(budget["spent"]), D(budget["committed"])) == (1000, 920, 200)
    assert D(budget["spent_pct"]) == D("92.0") and budget["alert"] is True
    [calm] = (await ask(nc, HUB, "get_budgets", {"domain": quiet}))["budgets"]
    assert D(calm["spent_pct"]) == 20 and calm["alert"] is False

    summary = await ask(nc, HUB, "get_domain_summary", {})
    assert {"kind": "budget", "domain": team, "period": "2026-Q4", "spent_pct": "92.0"} in summary["alerts"]
    assert not any(a.get("domain") == quiet for a in summary["alerts"])


async def test_spend_per_service_and_token_spend_per_agent(nc, settings, running_mesh):
    cur, u = unique_currency(), uuid.uuid4().hex[:6]
    agent = settings.model_copy(update={"actor": f"bot-{u}", "actor_kind": "agent"})
    tokens = {"provider": "anthropic", "model": "claude", "tokens_in": 100, "tokens_out": 40}
    wait = await send(
        nc,
        settings,
        [
            ("fin-cost-recorded", None, {"amount": money("70", cur), "service": f"svc-{u}"}),
            ("fin-cost-recorded", None, {"amount": money("30.5", cur), "service": f"svc-{u}"}),
            ("fin-token-spend-recorded", None, {**tokens, "cost": money("9", cur)}),  # a person's
        ],
    )
    publisher = Publisher(nc.jetstream(), agent)  # the agent's own spend, as the gateway records it
    for cost in ("1.25", "2.75"):
        event = publisher.build(
            "fin-token-spend-recorded", hub=HUB, subject="model/claude", data={**tokens, "cost": money(cost, cur)}
        )
        stored = await publisher.publish(event)
    wait[stored.stream] = max(wait[stored.stream], stored.sequence)
    answer = await ask(nc, HUB, "get_spend", {"wait_for_seq": wait})
    services = [r for r in answer["cost_per_service"] if r["currency"] == cur]
    assert [(r["service"], D(r["cost"]), r["records"]) for r in services] == [(f"svc-{u}", D("100.5"), 2)]
    spenders = {(r["actor"], r["actor_kind"]): r for r in answer["token_spend_per_actor"] if r["currency"] == cur}
    mine = spenders[(f"bot-{u}", "agent")]
    assert (D(mine["cost"]), mine["tokens_in"], mine["tokens_out"]) == (D(4), 200, 80)
    assert [k for k in spenders if k[1] == "agent"] == [(f"bot-{u}", "agent")]  # the person's is not the agent's


async def test_bad_requests_are_refused_with_the_field_named(nc, running_mesh):
    with pytest.raises(ContractError, match="currency") as refused:
        await ask(nc, HUB, "get_runway", {"currency": "euro"})
    assert refused.value.code == "invalid_request"
