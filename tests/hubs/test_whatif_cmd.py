"""`vsmesh rebuild HUB --into NAME --exclude-actor ACTOR --cascade` and `vsmesh diff` on the running mesh, with
the demo's agent (custodian-agent, canon's Technical Operator): its spend over canon's threshold escalated to
canon-hub through a coupling; a what-if copy of canon-hub without it (and what it caused) differs from a plain
copy of the same moment by exactly that escalation."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import uuid

import pytest

from tests.conftest import publish_as, wait_until
from tests.couplings.test_couplings import q
from tests.couplings.test_policy_escalation import ESCALATION, cost, currency, declare
from vsmesh.bus.connection import connect
from vsmesh.bus.streams import HORIZON_STREAMS
from vsmesh.hubs.canon.couplings import AGENT_SPEND
from vsmesh.projectors.couplings.coupling import derived_id

pytestmark = pytest.mark.usefixtures("running_mesh")

AGENT = "custodian-agent"  # the demo's agent (hubs/canon/sample.py grants it a mandate)


def heads(settings) -> list[str]:
    async def go() -> list[str]:
        nc = await connect(settings)
        try:
            js = nc.jetstream()
            return [f"{s}:{(await js.stream_info(s)).state.last_seq}" for s in HORIZON_STREAMS]
        finally:
            await nc.close()

    return asyncio.run(go())


def ok(result) -> dict:
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_a_what_if_copy_without_the_demos_agent_differs_by_exactly_its_effects(cli, settings):
    since = dt.datetime.now(dt.UTC).isoformat()
    cur, policy = currency(), f"agent-spend-{uuid.uuid4().hex[:6]}"
    declare(cli, settings, policy, "1", "500", cur)
    spent = publish_as(settings, AGENT, "agent", "fin-cost-recorded", "fin-hub", None, cost("750.00", cur))["id"]
    escalation = derived_id(AGENT_SPEND, spent)
    wait_until(lambda: q(settings, ESCALATION, id=escalation), what="the agent's spend escalated to canon")

    # Two copies of canon-hub at the same sequences: as it is, and without what the agent did since `since`.
    at = [arg for seq in heads(settings) for arg in ("--to-seq", seq)]
    plain, without = f"pl-{uuid.uuid4().hex[:6]}", f"wi-{uuid.uuid4().hex[:6]}"
    ok(cli("rebuild", "canon-hub", "--into", plain, *at, "--json"))
    built = ok(cli("rebuild", "canon-hub", "--into", without, *at, "--exclude-actor", AGENT, "--since", since,
                   "--cascade", "--json"))  # fmt: skip
    # canon-hub holds none of the agent's own events; the escalation its spend caused is left out (and the record of
    # whom the notifier told of it, if it had by then: it delivers as it goes, on canon-hub).
    told = [r for r in built["left_out"] if r["type"].startswith("notification-")]
    assert [(r["event_id"], r["caused_by"]) for r in built["left_out"] if r not in told] == [(escalation, spent)]

    diff = ok(cli("diff", "canon-hub", "--as-of", plain, "--as-of", without, "--json"))
    changed = {t["table"]: t for t in diff["tables"] if (t["added"], t["removed"], t["changed"]) != (0, 0, 0)}
    # The escalation and its SLA clock (canon's timed checks keep one per escalation), nothing else.
    assert sorted(changed) == ["escalation_clocks", "escalations"]
    for table in changed.values():
        assert (table["removed"], table["added"], table["changed"]) == (1, 0, 0)
        assert table["samples"]["removed"][0]["escalation_id"] == escalation

    # Against the live hub, the what-if copy is read from live to the copy: the escalation shows as removed.
    live = ok(cli("diff", "canon-hub", "--as-of", without, "--json"))
    assert live["old"] == "canon_hub" and any(
        r.get("escalation_id") == escalation
        for t in live["tables"] if t["table"] == "escalations" for r in t["samples"].get("removed", [])
    )  # fmt: skip
    # Read like any point-in-time copy, through the hub's contract (every read takes `point_in_time`).
    assert cli("summary", "canon-hub", "--as-of", without, "--json").exit_code == 0
    listed = cli("rebuild", "--list", "--json")
    assert any(r["name"] == without and f"without {AGENT}" in r["until"] for r in json.loads(listed.stdout))
    for name in (plain, without):
        assert cli("rebuild", "--drop", name).exit_code == 0


def test_what_if_options_need_a_copy_and_an_actor(cli):
    no_copy = cli("rebuild", "canon-hub", "--exclude-actor", AGENT)
    assert no_copy.exit_code == 2 and "--into NAME" in no_copy.output
    stray = cli("rebuild", "canon-hub", "--into", "x", "--cascade")
    assert stray.exit_code == 2 and "go with" in " ".join(stray.output.replace("│", " ").split())
