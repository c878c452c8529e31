"""`vsmesh call`: a hub's operations from a terminal, the same a mandate lets an agent call over MCP; writes act as
the terminal's actor, and bad arguments are one line naming the field."""

from __future__ import annotations

import json
import uuid

from tests.hubs.core.test_core_cli import as_json


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
