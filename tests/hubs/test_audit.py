"""`vsmesh audit` on the session's real servers: agent actions listed with their revert state."""

from __future__ import annotations

import json
import uuid

import pytest

pytestmark = pytest.mark.usefixtures("running_mesh")


def test_audit_lists_an_agents_actions_with_their_revert_state(cli):
    agent = f"bot-{uuid.uuid4().hex[:6]}"
    ids = []
    for status in ("green", "red"):
        result = cli(
            "publish", "ops-health-checked", "--hub", "ops-hub", "--subject", f"service/{agent}",
            "--data", json.dumps({"status": status}), "--actor", agent, "--actor-kind", "agent", "--json",
        )  # fmt: skip
        assert result.exit_code == 0, result.output
        ids.append(json.loads(result.stdout)["id"])
    reverted = cli("revert", ids[1], "--reason", "agent misread the probe", "--actor", "alice", "--json")
    assert reverted.exit_code == 0, reverted.output

    result = cli("audit", "--actor", agent, "--actor-kind", "agent", "--since", "10m", "--json")
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)
    assert [r["id"] for r in rows] == ids
    assert all((r["actor"], r["actor_kind"], r["hub"], r["type"]) == (agent, "agent", "ops-hub", "ops-health-checked")
               for r in rows)  # fmt: skip
    assert rows[0]["reverted"] is False and rows[0]["reverted_by"] is None
    assert rows[1]["reverted"] is True
    assert (rows[1]["reverted_by"], rows[1]["revert_reason"]) == ("alice", "agent misread the probe")

    # The revert itself is an action of a person, listed under her name.
    mine = json.loads(cli("audit", "--actor", "alice", "--hub", "ops-hub", "--json").stdout)
    assert any(r["type"] == "event-reverted" and r["actor_kind"] == "human" for r in mine)
    # Humans' actions are not agents'.
    assert not json.loads(cli("audit", "--actor", "alice", "--actor-kind", "agent", "--json").stdout)

    shown = cli("audit", "--actor", agent)
    assert shown.exit_code == 0 and "reverted" in shown.stdout and "alice" in shown.stdout
    print(shown.stdout)
