"""`vsmesh call`: a hub's operations from a terminal, the same a mandate lets an agent call over MCP; writes go
through the gateway as the signed-in person (never as whoever a request or the shell names), refused with nobody
signed in, and bad arguments are one line naming the field."""

from __future__ import annotations

import json
import uuid

import httpx

from tests.hubs.core.test_core_cli import as_json
from vsmesh.cli.session import signed_in
from vsmesh.settings import Settings


def test_a_debt_recorded_and_closed_from_the_terminal(cli, running_mesh, person, monkeypatch):
    monkeypatch.setenv("VSMESH_ACTOR", "call-tester")  # what the shell says counts for nothing: the sign-in does
    entity = f"service/call-{uuid.uuid4().hex[:8]}"
    recorded = as_json(cli, "call", "ops-hub", "record_debt", f"entity={entity}", "summary=replicas",
                       "desired=3", "actual=1")  # fmt: skip
    # Read-your-writes: the close is checked against the debt the hub has applied.
    wait = json.dumps({recorded["stream"]: recorded["seq"]})
    closed = cli("call", "ops-hub", "close_debt", f"entity={entity}", "summary=scaled up", f"wait_for_seq={wait}")
    assert closed.exit_code == 0, closed.output
    assert closed.stdout.startswith("ops-hub close_debt: event ")

    # Both events are the signed-in person's (the gateway sent them as the verified token's subject), not the hub's.
    audit = as_json(cli, "audit", "--limit", "0", "--hub", "ops-hub", "--since", "10m")
    ours = [(a["type"], a["actor"]) for a in audit if a["entity"] == entity]
    assert ours == [("ops-drift-detected", person.name)] * 2

    # Bad arguments: one line naming the field; a debt never recorded is named too.
    bad = cli("call", "ops-hub", "record_change", f"entity={entity}", "summary=bumped")
    assert bad.exit_code == 1 and bad.output.strip() == "error: rollback_path: Field required"
    never = cli("call", "ops-hub", "close_debt", "entity=service/never-drifted", "summary=x")
    assert never.exit_code == 1 and "no open debt on service/never-drifted" in never.output
    assert "record_debt" in cli("call", "ops-hub").stdout  # the hub's operations, listed

    # Straight to the gateway, a request naming another actor is refused: the token says who acts.
    token = signed_in(Settings(config_dir=person.fresh())).access_token
    request = {"entity": entity, "summary": "x", "desired": 1, "actual": 0, "actor": "someone-else"}
    forged = httpx.post(f"{person.gateway_url}/people/call", headers={"Authorization": f"Bearer {token}"},
                        json={"hub": "ops-hub", "operation": "record_debt", "request": request})  # fmt: skip
    assert forged.status_code == 400
    assert forged.json()["message"] == "actor cannot be set by a caller: the gateway sets them from your token"


def test_a_write_with_nobody_signed_in_is_refused_before_anything_is_sent(cli):
    refused = cli("call", "ops-hub", "record_debt", "entity=service/unsigned", "summary=x", "desired=2", "actual=1")
    assert refused.exit_code == 1
    assert refused.stderr == "error: refused: record_debt on ops-hub needs a signed-in person: run `vsmesh login`\n"
    escalated = cli("escalate", "ops-hub", "an unsigned escalation")
    assert (
        escalated.stderr == "error: refused: escalate_issue on ops-hub needs a signed-in person: run `vsmesh login`\n"
    )
