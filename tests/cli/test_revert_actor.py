"""`vsmesh revert --actor NAME --cascade` on the session's mesh: everything one actor did, with what it caused on
other hubs, is reverted in one command, and each hub shows its state without it."""

from __future__ import annotations

import json
import uuid

import pytest

from tests.conftest import PERSON, publish_as, wait_until
from tests.couplings.test_couplings import q
from tests.hubs.test_revert import service_status
from vsmesh.projectors.couplings.coupling import derived_id

pytestmark = pytest.mark.usefixtures("running_mesh")

BLOCKER = "SELECT * FROM dev_hub.blockers WHERE blocker_id = :id"
INCIDENT = "SELECT * FROM ops_hub.incidents WHERE incident_id = :id"


def publish(cli, event_type: str, subject: str, data: dict) -> str:
    result = cli("publish", event_type, "--hub", "ops-hub", "--subject", subject, "--data", json.dumps(data), "--json")
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)["id"]


def test_reverting_an_actor_with_cascade_takes_back_what_it_did_and_caused(settings, cli):
    tag = uuid.uuid4().hex[:8]
    bot, service = f"night-bot-{tag}", f"web-{tag}"

    # (a service, not an agent: an agent's first act would also reach legal-hub)
    def as_bot(event_type: str, subject: str, data: dict) -> str:
        return str(publish_as(settings, bot, "service", event_type, "ops-hub", subject, data)["id"])

    # A person's green check, then the bot's red one and its incident, which a coupling makes a dev blocker.
    publish(cli, "ops-health-checked", f"service/{service}", {"status": "green"})
    red = as_bot("ops-health-checked", f"service/{service}", {"status": "red"})
    incident = {"title": f"{service} down", "severity": "high", "affected": [f"service/{service}"]}
    opened = as_bot("ops-incident-opened", f"incident/{service}", incident)
    blocker = derived_id("ops-incident-to-dev-blocker", opened)
    wait_until(lambda: q(settings, BLOCKER, id=blocker), what="the dev blocker the incident caused")
    wait_until(lambda: service_status(settings, service) == "red", what="ops-hub to apply the red check")

    result = cli("revert", "--actor", bot, "--since", "10m", "--cascade", "--by", PERSON, "--json")
    assert result.exit_code == 0, result.output
    done = {(d["event_id"], d["hub"], d["note"]) for d in json.loads(result.stdout)}
    # The bot's two events, and what they caused as their cascade: the blocker (not the bot's own: the
    # coupling's). Who was notified of them stays on record (events/envelope.py `reverted_with_cause`).
    assert done == {(red, "ops-hub", ""), (opened, "ops-hub", ""), (blocker, "dev-hub", "cascade")}

    # Each hub re-folds without them: the service is green again, incident and blocker are gone.
    wait_until(lambda: service_status(settings, service) == "green", timeout=20, what="the red check to go")
    wait_until(lambda: not q(settings, INCIDENT, id=opened), timeout=20, what="the incident to go")
    wait_until(lambda: not q(settings, BLOCKER, id=blocker), timeout=20, what="the blocker to go")

    # Nothing of the bot's is left to revert: one line naming where to look.
    again = cli("revert", "--actor", bot, "--since", "10m", "--cascade")
    assert again.exit_code == 1
    line = again.stderr.strip()
    assert "\n" not in line and f"{bot} did nothing in the last 10m" in line and f"vsmesh audit --actor {bot}" in line
