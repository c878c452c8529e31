"""Every write an agent may do in dev-hub and ops-hub (and `annotate` on every hub), through the MCP gateway's front
door: with a mandate it is stored as the agent's own event and answered with its id and sequence; without one it
is refused and the attempt is a `canon-call-refused` on the log; bad arguments are refused naming the field, and
nothing of either reaches the hub."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from typer.testing import CliRunner

from tests.gateway.conftest import mcp_client
from tests.gateway.front_door import FrontDoor, once_allowed, refusal
from tests.gateway.test_mcp_http import refusal_subject, stored
from tests.log_reads import heads, stored_since
from vsmesh.events import decode_event
from vsmesh.runtime.mesh_state import load_state

Args = Callable[[str, dict[str, Any]], dict[str, Any]]  # (this test's unique name, the opener's answer) -> arguments


@dataclass(frozen=True)
class Write:
    hub: str
    operation: str
    stores: str  # the event type stored
    args: Args
    bad: dict[str, Any]  # merged over the arguments: what makes them wrong
    named: str  # what the refusal of the bad arguments names
    opener: tuple[str, Args] | None = None  # an operation whose event this one follows up
    subject: Callable[[str], str] | None = None

    @property
    def tool(self) -> str:
        return f"{self.hub}__{self.operation}"


def service(u: str, _: Any = None) -> str:
    return f"service/s-{u}"


RISK = ("surface_risk", lambda u, _: {"title": f"single replica {u}", "entity": service(u), "severity": "high"})
ALERT = ("raise_alert", lambda u, _: {"title": f"5xx {u}", "entity": service(u), "severity": "critical"})
DEBT = ("record_debt", lambda u, _: {"entity": service(u), "summary": "replicas", "desired": 3, "actual": 1})
BLOCKER = ("raise_blocker", lambda u, _: {"title": f"waiting for SSO {u}", "blocking": [f"repo/r-{u}"]})

WRITES = [
    Write("dev-hub", "record_deployment", "dev-deployment-completed",
          lambda u, _: {"service": f"s-{u}", "version": "1.2.0", "environment": "local", "rollback_path": "helm undo"},
          {"status": "paused"}, "status", subject=lambda u: f"service/s-{u}"),
    Write("dev-hub", "record_decision", "dev-decision-recorded",
          lambda u, _: {"title": f"packaging {u}", "decision": "a separate package", "alternatives": ["a folder"]},
          {"decision": ""}, "decision"),
    Write("dev-hub", "raise_blocker", "dev-blocker-raised", BLOCKER[1], {"severity": "dire"}, "severity",
          subject=lambda u: f"repo/r-{u}"),
    Write("dev-hub", "clear_blocker", "dev-blocker-cleared", lambda u, opened: {"blocker_id": opened["id"]},
          {"blocker_id": "no-such-blocker"}, "not_found", opener=BLOCKER),
    Write("dev-hub", "register_repo", "dev-repo-registered", lambda u, _: {"name": f"r-{u}", "url": "https://x.test/r"},
          {"name": "not a name"}, "name", subject=lambda u: f"repo/r-{u}"),
    Write("ops-hub", "surface_risk", "risk-surfaced", lambda u, _: {**RISK[1](u, _), "category": "ops-migration-risk"},
          {"category": "blue-sky"}, "undeclared_category", subject=service),
    Write("ops-hub", "mitigate_risk", "risk-mitigated", lambda u, opened: {"risk_id": opened["id"], "mitigation": "x"},
          {"risk_id": "no-such-risk"}, "not_found", opener=RISK, subject=service),
    Write("ops-hub", "accept_risk", "risk-accepted",
          lambda u, opened: {"risk_id": opened["id"], "rationale": "cheap to lose", "review_by": "2027-01-01"},
          {"review_by": "someday"}, "review_by", opener=RISK),
    Write("ops-hub", "raise_alert", "alert-raised", ALERT[1], {"entity": "gitea"}, "entity", subject=service),
    Write("ops-hub", "resolve_alert", "alert-resolved", lambda u, opened: {"alert_id": opened["id"], "note": "restart"},
          {"alert_id": "no-such-alert"}, "not_found", opener=ALERT, subject=service),
    Write("ops-hub", "record_change", "ops-change-recorded",
          lambda u, _: {"entity": service(u), "summary": "bumped to 1.2.0", "rollback_path": "helm rollback s 3"},
          {"rollback_path": None}, "rollback_path", subject=service),
    Write("ops-hub", "update_gate", "ops-readiness-gate-updated",
          lambda u, _: {"gate": f"g-{u}", "status": "green", "migration_wave": f"w-{u}"},
          {"status": "blue"}, "status", subject=lambda u: f"readiness-gate/g-{u}"),
    Write("ops-hub", "record_debt", "ops-drift-detected", DEBT[1], {"actual": 3}, "no_debt", subject=service),
    Write("ops-hub", "close_debt", "ops-drift-detected", lambda u, _: {"entity": service(u), "summary": "scaled up"},
          {"entity": "service/never-drifted"}, "not_found", opener=DEBT, subject=service),
    # What no operation of its own names, as `vsmesh publish` stores it: the schema names a wrong field.
    Write("ops-hub", "record_event", "ops-restore-tested",
          lambda u, _: {"type": "ops-restore-tested", "widget": f"backup-set/b-{u}",
                        "data": {"backup_set": f"b-{u}", "verdict": "passed", "target": "scratch"}},
          {"data": {"backup_set": "b", "verdict": "maybe"}}, "$.data.verdict", subject=lambda u: f"backup-set/b-{u}"),
    Write("ops-hub", "annotate", "annotation-added",
          lambda u, _: {"widget": "ops-service-gitea", "category": "ops-backup-gap", "body": f"no restore test {u}"},
          {"category": "blue-sky"}, "undeclared_category", subject=lambda u: "service/gitea"),
    Write("dev-hub", "annotate", "annotation-added",
          lambda u, _: {"entity": f"repo/r-{u}", "category": "dev-test-gap", "body": "no tests for the CLI"},
          {"widget": "dev-repos"}, "either entity", subject=lambda u: f"repo/r-{u}"),
    Write("syn-hub", "annotate", "annotation-added",
          lambda u, _: {"widget": "syn-handoffs", "category": "syn-conflict", "body": f"two owners {u}"},
          {"widget": "no-such-widget"}, "no widget", subject=lambda u: "syn-handoffs"),
]  # fmt: skip


@dataclass
class Agents:
    door: FrontDoor
    allowed: str  # holds a mandate over dev-hub, ops-hub and syn-hub
    allowed_token: str
    refused: str  # holds none
    refused_token: str


async def _until_listed(door: FrontDoor, token: str, tool: str, timeout: float = 60.0) -> None:
    """A hub bootstrapped a moment ago has its tools once the gateway followed the registry's event."""
    deadline = time.monotonic() + timeout
    async with mcp_client(door.url, token) as client:
        while tool not in {t.name for t in (await client.list_tools()).tools}:
            assert time.monotonic() < deadline, f"{tool} not listed {timeout} s after its hub's bootstrap"
            await asyncio.sleep(0.2)


@pytest.fixture(scope="module")
def agents(mesh_env, running_mesh, session_dir, person) -> Iterator[Agents]:
    """Two agents for the file (each `vsmesh agent add` and token costs a second or two): one granted a mandate
    over the hubs written here, one granted nothing; ops-hub's and syn-hub's manifests bootstrapped (widgets)."""
    from vsmesh.cli.app import app

    runner = CliRunner()

    def cli(*args: str):
        with pytest.MonkeyPatch.context() as env:
            for key, value in mesh_env.items():
                env.setenv(key, value)
            env.setenv("VSMESH_CONFIG_DIR", str(person.fresh()))  # the session's person grants the mandate
            return runner.invoke(app, list(args), catch_exceptions=False)

    door = FrontDoor(load_state(session_dir / "up").gateway_url, session_dir / "up", cli)
    allowed, refused = f"writer-{uuid.uuid4().hex[:8]}", f"nobody-{uuid.uuid4().hex[:8]}"

    async def setup() -> Agents:
        for slug in ("ops-hub", "syn-hub"):
            await door.run("hub", "bootstrap", slug)
        await door.grant(allowed, "dev-hub, ops-hub, syn-hub")
        found = Agents(door, allowed, await door.agent_token(allowed), refused, await door.agent_token(refused))
        await _until_listed(door, found.allowed_token, "syn-hub__annotate")
        return found

    yield asyncio.run(setup())


@pytest.mark.parametrize("write", WRITES, ids=lambda w: w.tool)
async def test_a_write_is_the_agents_with_a_mandate_and_refused_without(write: Write, agents: Agents, nc):
    js, u = nc.jetstream(), uuid.uuid4().hex[:8]
    before = await heads(js)
    async with mcp_client(agents.door.url, agents.allowed_token) as client:
        opened: dict[str, Any] = {}
        if write.opener:
            name, opener_args = write.opener
            answer = await once_allowed(client, f"{write.hub}__{name}", opener_args(u, {}))
            assert not answer.is_error, answer.content
            opened = answer.structured_content
        # Read-your-writes: a follow-up is checked against what the hub has applied.
        wait = {"wait_for_seq": {opened["stream"]: opened["seq"]}} if opened else {}
        args = write.args(u, opened) | wait

        # With the mandate: stored as the agent's own event, answered with its id and sequence.
        answer = await once_allowed(client, write.tool, args)
        assert not answer.is_error, answer.content
        ids = answer.structured_content
        event = await stored(nc, ids["stream"], ids["seq"])
        assert (event.id, event.type, event.hub) == (ids["id"], write.stores, write.hub)
        assert (event.actor, event.actorkind, event.data.metadata["via"]) == (agents.allowed, "agent", "mcp")
        if write.subject:
            assert event.subject == write.subject(u)

        # Bad arguments: one refusal naming what is wrong.
        bad = await client.call_tool(write.tool, args | write.bad)
        assert bad.is_error and write.named in refusal(bad), refusal(bad)

    # Without a mandate: refused, and the attempt is on the log as the caller's.
    async with mcp_client(agents.door.url, agents.refused_token) as client:
        refused = await client.call_tool(write.tool, args)
    assert refusal(refused).startswith(
        f"refused: missing mandate {write.hub}:{write.operation}: agent {agents.refused}"
    )
    attempt = decode_event((await js.get_last_msg("CONSTITUTIONAL", refusal_subject(agents.refused))).data)
    assert (attempt.type, attempt.actor, attempt.data.operation) == (
        "canon-call-refused",
        agents.refused,
        write.operation,
    )

    # Nothing but the allowed writes reached a hub.
    ours = [e for e in await stored_since(js, before) if e["actor"] in (agents.allowed, agents.refused)]
    stored_ids = [e["id"] for e in ours if e["type"] != "canon-call-refused"]
    assert stored_ids == [i for i in (opened.get("id"), ids["id"]) if i]
