"""canon's timed checks as pure decisions: the values come from policies, the ids from what an event is about."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from vsmesh.hubs.canon import checks
from vsmesh.hubs.canon.values import check_values

NOW = dt.datetime(2026, 12, 1, 20, 0, tzinfo=dt.UTC)


def policy(slug: str, **values: object) -> dict:
    return {"policy": slug, "event_id": f"{slug}-event", "values": values}


def test_nothing_is_checked_that_no_policy_declares():
    values = check_values([policy("quiet", approval_above="1000")])
    decisions = [
        checks.budget_alerts(values, [{"spent_pct": "99", "domain": "d", "period": "2026-12"}]),
        checks.runway(values, [], NOW),
        checks.agent_spend(values, []),
        checks.escalation_sla(values, [], NOW, lambda hub: None),
    ]
    assert [d.ran for d in decisions] == [False] * 4
    assert "budget_alert_pct" in decisions[0].result and not decisions[0].planned


def test_the_strictest_declaration_wins_and_an_unreadable_value_is_named_not_guessed():
    values = check_values(
        [
            policy("a", budget_alert_pct=90, runway_alert_months=6, escalation_sla={"operational": "4h"}),
            policy("b", budget_alert_pct="80", runway_alert_months=9, escalation_sla={"operational": "2h"}),
            policy("c", budget_alert_pct="most", runway_check_every="daily", escalation_sla={"weekly": "1d"}),
            policy("d", agent_spend_threshold={"amount": "50", "currency": "EUR"}, agent_spend_period="quarter"),
            policy("e", agent_spend_threshold="20"),  # no currency: no threshold
        ]
    )
    assert (values.budget_alert_pct.value, values.budget_alert_pct.policy) == (Decimal(80), "b")
    assert values.runway_alert_months.value == 9  # the higher threshold alerts sooner
    assert values.escalation_sla_s["operational"].value == 7200
    assert values.runway_check_every_s is None
    assert values.agent_spend_threshold["EUR"].value == 50 and values.agent_spend_period.value == "quarter"
    assert len(values.ignored) == 4
    assert any("policy c: budget_alert_pct: 'most' is no number" in line for line in values.ignored)
    assert any("policy e: agent_spend_threshold" in line and "currency" in line for line in values.ignored)


def test_a_budget_alerts_once_per_budget_and_period_at_canons_share():
    values = check_values([policy("spending", budget_alert_pct=90)])
    budget = {"domain": "railiance", "period": "2026-11", "currency": "EUR", "allocated": "200", "spent": "190",
              "spent_pct": "95.0", "alert_event_id": None}  # fmt: skip
    calm = {**budget, "domain": "custodian", "spent": "20", "spent_pct": "10.0"}
    [alert] = checks.budget_alerts(values, [budget, calm]).planned
    assert alert.type == "fin-budget-alert-raised" and alert.data["threshold_pct"] == 90.0
    # The same budget and period asks for the same id in any process; one already raised asks for none.
    assert checks.budget_alerts(values, [budget]).planned[0].event_id == alert.event_id
    assert checks.budget_alerts(values, [{**budget, "alert_event_id": alert.event_id}]).planned == []


def test_the_runway_is_projected_once_per_slot():
    values = check_values([policy("spending", runway_check_every="1d", runway_alert_months=6)])
    runway = {"currency": "EUR", "balance": "48000", "monthly_burn": "5000", "months_remaining": "9.6"}
    first = checks.runway(values, [runway], NOW).planned
    later_that_day = checks.runway(values, [runway], NOW + dt.timedelta(hours=3)).planned
    next_day = checks.runway(values, [runway], NOW + dt.timedelta(hours=5)).planned
    assert first[0].event_id == later_that_day[0].event_id != next_day[0].event_id
    assert first[0].data["alert_threshold_months"] == 6.0 and first[0].data["metadata"]["slot"].startswith("2026-12-01")


def test_agent_spend_sums_per_agent_and_period():
    values = check_values([policy("agents", agent_spend_threshold={"amount": "100", "currency": "EUR"})])
    rows = [
        {"actor": "bot", "month": "2026-11", "currency": "EUR", "spent": "60"},
        {"actor": "bot", "month": "2026-12", "currency": "EUR", "spent": "70"},
        {"actor": "bot", "month": "2026-12", "currency": "USD", "spent": "900"},  # no USD threshold
    ]
    assert checks.agent_spend(values, rows).planned == []  # no month above 100
    quarterly = check_values([policy("agents", agent_spend_threshold={"amount": "100", "currency": "EUR"},
                                     agent_spend_period="quarter")])  # fmt: skip
    [escalation] = checks.agent_spend(quarterly, rows).planned
    assert escalation.subject == "agent/bot" and escalation.data["metadata"]["period"] == "2026-Q4"
    assert escalation.data["metadata"]["spent"] == {"amount": "130", "currency": "EUR"}


def test_an_escalation_is_raised_again_once_per_sla_it_outlives():
    values = check_values([policy("slas", escalation_sla={"operational": "4h", "strategic": "14d"})])
    raised = NOW - dt.timedelta(hours=9)
    opened = {"escalation_id": "e1", "entity": "service/gitea", "from_hub": "ops-hub", "raised_at": raised,
              "horizon": None, "re_escalations": None}  # fmt: skip
    strategic = {**opened, "escalation_id": "e2", "from_hub": "fin-hub"}
    horizons = {"ops-hub": "operational", "fin-hub": "strategic"}
    decision = checks.escalation_sla(values, [opened, strategic], NOW, horizons.get)
    [again] = decision.planned  # nine hours: two operational SLAs, no strategic one
    assert again.data["re_escalation"] == 2 and again.causation_id == "e1"
    assert again.data["due_at"] == (raised + dt.timedelta(hours=8)).isoformat()
    # Once canon holds that re-escalation, the same clock asks for nothing more.
    assert checks.escalation_sla(values, [{**opened, "re_escalations": 2}], NOW, horizons.get).planned == []
