"""Revert end to end on the session's real servers, with `vsmesh up` projecting every hub: a revert hides an
event from its hub's read model, reverting the revert restores it, and --cascade follows causation ids."""

from __future__ import annotations

import asyncio
import json
import uuid

import pytest

from tests.conftest import wait_until
from tests.couplings.test_couplings import pub, publish_low_runway, q
from vsmesh.bus.connection import connect
from vsmesh.bus.contract_client import ask
from vsmesh.projectors.couplings.coupling import derived_id

pytestmark = pytest.mark.usefixtures("running_mesh")


async def _ask(settings, hub: str, operation: str, request: dict):
    nc = await connect(settings, name="test-revert")
    try:
        return await ask(nc, hub, operation, request, timeout=5.0)
    finally:
        await nc.close()


def service_status(settings, name: str) -> str | None:
    services = asyncio.run(_ask(settings, "ops-hub", "get_services", {"name": name}))["services"]
    return services[0]["status"] if services else None


def published_id(result) -> str:
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)["id"]


def revert(cli, event_id: str, reason: str, *extra: str) -> list[dict]:
    result = cli("revert", event_id, "--reason", reason, "--json", *extra)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_a_reverted_health_check_is_gone_and_reverting_the_revert_restores_it(settings, cli):
    svc = f"rv-{uuid.uuid4().hex[:8]}"
    check = lambda status: cli(  # noqa: E731
        "publish", "ops-health-checked", "--hub", "ops-hub", "--subject", f"service/{svc}",
        "--data", json.dumps({"status": status}), "--json",
    )  # fmt: skip
    published_id(check("green"))
    wait_until(lambda: service_status(settings, svc) == "green", what="the green check")
    red = published_id(check("red"))
    wait_until(lambda: service_status(settings, svc) == "red", what="the red check")

    [done] = revert(cli, red, "probe misconfigured")
    assert done["event_id"] == red and done["hub"] == "ops-hub" and done["type"] == "ops-health-checked"
    # The service goes back to its previous status: the red check no longer counts.
    wait_until(lambda: service_status(settings, svc) == "green", timeout=20, what="the revert to show")
    [revert_row] = q(settings, "SELECT * FROM ops_hub.vsmesh_reverted WHERE event_id = :id", id=red)
    assert revert_row["reason"] == "probe misconfigured" and revert_row["actor_kind"] == "human"

    # Reverting the revert restores the red check.
    [undone] = revert(cli, done["revert_id"], "the probe was right")
    assert undone["type"] == "event-reverted"
    wait_until(lambda: service_status(settings, svc) == "red", timeout=20, what="the unrevert to show")


def test_an_unknown_event_cannot_be_reverted(cli):
    result = cli("revert", str(uuid.uuid4()), "--reason", "nothing")
    assert result.exit_code != 0 and "no stored event has id" in result.stderr


def test_cascade_reverts_what_a_coupling_emitted(settings, cli):
    service = f"api-{uuid.uuid4().hex[:8]}"
    opened = pub(settings, "ops-incident-opened", "ops-hub", f"incident/{service}",
                 {"title": f"{service} down", "severity": "critical", "affected": [f"service/{service}"]})  # fmt: skip
    blocker_id = derived_id("ops-incident-to-dev-blocker", opened)
    blocker = "SELECT * FROM dev_hub.blockers WHERE blocker_id = :id"
    wait_until(lambda: q(settings, blocker, id=blocker_id), what="the dev blocker")

    done = revert(cli, opened, "false alarm", "--cascade")
    assert [(d["event_id"], d["hub"]) for d in done] == [(opened, "ops-hub"), (blocker_id, "dev-hub")]
    # Both hubs re-fold without them: the blocker is gone from dev-hub.
    wait_until(lambda: not q(settings, blocker, id=blocker_id), timeout=20, what="the blocker to go")

    # Reverting the first revert with --cascade restores both.
    restored = revert(cli, done[0]["revert_id"], "it was real", "--cascade")
    assert {d["event_id"] for d in restored} == {d["revert_id"] for d in done}
    wait_until(lambda: q(settings, blocker, id=blocker_id), timeout=20, what="the blocker to come back")


def test_cascade_follows_causation_across_two_hops(settings, cli):
    # A balance → its runway projection (fin-hub) → a canon escalation (canon-hub): two couplings deep.
    balance = publish_low_runway(settings)
    runway_id = derived_id("fin-balance-to-runway", balance)
    escalation_id = derived_id("fin-runway-to-canon-escalation", runway_id)
    escalation = "SELECT * FROM canon_hub.escalations WHERE escalation_id = :id"
    wait_until(lambda: q(settings, escalation, id=escalation_id), what="the canon escalation")

    done = revert(cli, balance, "wrong balance", "--cascade")
    assert [(d["event_id"], d["hub"]) for d in done] == [
        (balance, "fin-hub"), (runway_id, "fin-hub"), (escalation_id, "canon-hub"),
    ]  # fmt: skip
    # The second hop's hub re-folds without its event too: the escalation is gone from canon-hub.
    wait_until(lambda: not q(settings, escalation, id=escalation_id), timeout=20, what="the escalation to go")
