"""Policy escalation end to end: an agent's fin spend above a canon policy's threshold escalates to canon.

The threshold is a policy value declared through canon events; declaring a new version changes the outcome.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import uuid

import pytest

from tests.conftest import publish_as, wait_until
from tests.couplings.test_couplings import q
from tests.currencies import unique_currency
from vsmesh.bus.connection import connect
from vsmesh.bus.contract_client import ask
from vsmesh.hubs.canon import checks
from vsmesh.hubs.canon.checks import check_id
from vsmesh.hubs.canon.couplings import AGENT_SPEND
from vsmesh.projectors.couplings.coupling import derived_id

pytestmark = pytest.mark.usefixtures("running_mesh")

ESCALATION = "SELECT * FROM canon_hub.escalations WHERE escalation_id = :id"


def currency() -> str:
    """A made-up currency code no other test uses, so other tests' thresholds never apply."""
    return unique_currency()


def policies(settings, policy: str) -> list[dict]:
    async def go():
        nc = await connect(settings, name="test-policy")
        try:
            return (await ask(nc, "canon-hub", "get_policies", {"policy": policy}, timeout=5.0))["policies"]
        finally:
            await nc.close()

    return asyncio.run(go())


def declare(cli, settings, policy: str, version: str, amount: str, cur: str) -> None:
    data = {
        "policy": policy, "title": "agents spend within a limit", "version": version,
        "metadata": {"values": {"agent_spend_threshold": {"amount": amount, "currency": cur}}},
    }  # fmt: skip
    result = cli("publish", "canon-policy-declared", "--hub", "canon-hub", "--subject", f"policy/{policy}",
                 "--data", json.dumps(data))  # fmt: skip
    assert result.exit_code == 0, result.output
    wait_until(lambda: any(p["version"] == version for p in policies(settings, policy)), what="the policy version")


def spend(settings, event_type: str, data: dict, kind: str = "agent") -> str:
    """buyer-bot's spend, as its write through the gateway leaves it on the log."""
    return str(publish_as(settings, "buyer-bot", kind, event_type, "fin-hub", None, data)["id"])


def cost(amount: str, cur: str) -> dict:
    return {"amount": {"amount": amount, "currency": cur}, "vendor": "cloudco"}


def test_agent_spend_over_the_canon_threshold_escalates_and_under_does_not(settings, cli):
    cur, policy = currency(), f"agent-spend-{uuid.uuid4().hex[:6]}"
    declare(cli, settings, policy, "1", "500", cur)

    under = spend(settings, "fin-cost-recorded", cost("120.00", cur))
    human = spend(settings, "fin-cost-recorded", cost("900.00", cur), kind="human")
    over = spend(settings, "fin-cost-recorded", cost("750.00", cur))
    tokens = spend(settings, "fin-token-spend-recorded", {"provider": "anthropic", "model": "m", "tokens_in": 1,
                   "tokens_out": 1, "cost": {"amount": "501", "currency": cur}})  # fmt: skip

    found = wait_until(lambda: q(settings, ESCALATION, id=derived_id(AGENT_SPEND, over)), what="escalation")
    assert found[0]["from_hub"] == "fin-hub" and found[0]["cause_event_id"] == over
    assert policy in found[0]["title"] and "buyer-bot" in found[0]["title"]
    # Token spend is judged per agent and month by the scheduler of `vsmesh up`: 501 this month is above 500.
    month = dt.datetime.now(dt.UTC).strftime("%Y-%m")
    monthly = wait_until(lambda: q(settings, ESCALATION, id=check_id(checks.AGENT_SPEND, "buyer-bot", month, cur)),
                         what="the agent's monthly escalation")  # fmt: skip
    assert policy in monthly[0]["title"] and "501" in monthly[0]["title"]
    assert not q(settings, ESCALATION, id=derived_id(AGENT_SPEND, tokens))  # not a second time, per event
    # Causation is the spend (the trace shows the chain).
    answer = json.loads(cli("trace", derived_id(AGENT_SPEND, over), "--json").stdout)
    assert answer["roots"][0]["id"] == over
    # (legal's agent coupling may add its first sighting of buyer-bot beside it.)
    assert "canon-escalation-raised" in [c["type"] for c in answer["roots"][0]["children"]]
    # Nothing for the spend under the threshold nor for a person's spend; the reactor is past both.
    wait_until(
        lambda: q(settings, "SELECT 1 FROM vsmesh_reactors.positions WHERE coupling = :c AND seq >= "
                  "(SELECT max(cause_seq) FROM vsmesh_reactors.emitted WHERE cause_id = :t)", c=AGENT_SPEND, t=over),
        what="the reactor past the spends",
    )  # fmt: skip
    for cause in (under, human):
        assert not q(settings, ESCALATION, id=derived_id(AGENT_SPEND, cause))


def test_a_changed_policy_value_changes_the_outcome(settings, cli):
    cur, policy = currency(), f"agent-spend-{uuid.uuid4().hex[:6]}"
    declare(cli, settings, policy, "1", "500", cur)
    first = spend(settings, "fin-cost-recorded", cost("300.00", cur))
    # The policy is tightened: the same spend now escalates.
    declare(cli, settings, policy, "2", "200", cur)
    second = spend(settings, "fin-cost-recorded", cost("300.00", cur))
    found = wait_until(lambda: q(settings, ESCALATION, id=derived_id(AGENT_SPEND, second)), what="the escalation")
    assert "200" in found[0]["title"]
    assert not q(settings, ESCALATION, id=derived_id(AGENT_SPEND, first))
