"""The core commands of `vsmesh`, talking to a hub only over NATS: tables for people, JSON for scripts."""

from __future__ import annotations

import json

from tests.conftest import wait_until


def as_json(cli, *args: str):
    """Run a command with --json and decode what it printed."""
    result = cli(*args, "--json")
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_capability_register_request_and_update(cli, core_hub, running_mesh):
    hub = core_hub.slug
    assert cli("capability", "register", hub, "rotate-keys", "--tag", "security").exit_code == 0
    wait_until(lambda: as_json(cli, "capability", "list", hub), timeout=10, what="the capability to be listed")

    # The request is made as this terminal's actor and shows up as requested.
    asked = as_json(cli, "capability", "request", hub, "rotate-keys", "--summary", "gitea", "--param", "env=prod")
    requests = wait_until(
        lambda: as_json(cli, "capability", "list", hub, "--requests"), timeout=10, what="the request to be listed"
    )
    assert [(r["request_id"], r["status"], r["parameters"]) for r in requests] == [
        (asked["id"], "requested", {"env": "prod"})
    ]
    assert cli("capability", "update", hub, asked["id"], "in-progress").exit_code == 0
    wait_until(
        lambda: as_json(cli, "capability", "list", hub, "--requests", "--status", "in-progress"),
        timeout=10,
        what="the request to be in progress",
    )
    # People get a table.
    shown = cli("capability", "list", hub, "--requests")
    assert "rotate-keys" in shown.stdout and "in-progress" in shown.stdout


def test_message_send_list_and_read(cli, core_hub, running_mesh):
    hub = core_hub.slug
    sent = as_json(cli, "message", "send", hub, "ops-team", "backups are green", "--title", "backups")

    def unread():
        return as_json(cli, "message", "list", hub, "--to", "ops-team", "--unread")

    assert wait_until(unread, timeout=10, what="the message to arrive")[0]["message_id"] == sent["id"]
    assert cli("message", "read", hub, sent["id"]).exit_code == 0
    wait_until(lambda: not unread(), timeout=10, what="the message to be read")
    assert "backups" in cli("message", "list", hub).stdout


def test_escalate_then_list_escalations_risks_and_alerts(cli, core_hub, running_mesh):
    hub = core_hub.slug
    escalated = as_json(cli, "escalate", hub, "budget overrun", "--severity", "critical", "--from-hub", "fin-hub")
    found = wait_until(lambda: as_json(cli, "escalations", hub), timeout=10, what="the escalation to show up")
    assert [(e["escalation_id"], e["severity"]) for e in found] == [(escalated["id"], "critical")]
    # Empty lists still answer, as tables and as JSON.
    assert cli("risks", hub, "--status", "accepted").exit_code == 0
    assert as_json(cli, "alerts", hub, "--status", "resolved") == []


def test_errors_are_one_line(cli, core_hub, running_mesh):
    bad = cli("risks", core_hub.slug, "--status", "forgotten")
    assert bad.exit_code == 1
    # Only the CLI's own lines: the hub fixture's projector runs in this process and may log meanwhile.
    said = [line for line in bad.stderr.splitlines() if not line.startswith('{"')]
    assert len(said) == 1 and said[0].startswith("error: status: Input should be"), bad.stderr
    gone = cli("alerts", "no-such-hub")
    assert gone.exit_code == 1 and "no-such-hub does not answer get_alerts" in gone.stderr
    refused = cli("capability", "request", core_hub.slug, "teleport")
    assert refused.exit_code == 1 and "offers no 'teleport'" in refused.stderr
