"""A person's shell that holds no NATS credentials (the mesh runs as its own OS user in system mode, or on another
machine) reads the hubs through the mesh's gateway as the signed-in person: `vsmesh summary` and `vsmesh call` of a
read answer there as they do on a NATS connection. Nobody signed in, one line names the ways in. The gateway answers
reads only there (a write belongs to /people/call, under the person's checks), and to people only: an agent reads
through MCP under its mandates, and its attempt here is refused, on the log.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from pathlib import Path

import httpx

from tests.gateway.people_cli import error_line, refusals_of, vsmesh
from tests.signing_in import sign_in
from vsmesh.gateway.identity.clients import Clients


def evidence_through(shell: dict[str, str], entity: str, deadline_s: float = 30.0) -> list[dict]:
    """ops-hub's evidence of `entity`, asked by the shell's `vsmesh call` until some is there (or the deadline)."""
    deadline = time.monotonic() + deadline_s
    while True:
        asked = vsmesh(shell, "call", "ops-hub", "get_evidence", f"entity={entity}", "--json")
        assert asked.exit_code == 0, asked.output
        found = json.loads(asked.stdout)["evidence"]
        if found or time.monotonic() > deadline:
            return found
        time.sleep(0.2)


def test_a_shell_without_nats_reads_through_the_gateway(shell, session_dir: Path):
    alone = vsmesh(shell, "summary", "ops-hub", "--json")
    assert alone.exit_code == 1, alone.output
    assert error_line(alone) == (
        f"error: no mesh found in {shell['VSMESH_DATA_DIR']}: start one with `vsmesh up`, set VSMESH_NATS_URL, "
        "or sign in (`vsmesh login`) to read through the mesh's gateway"
    )

    name, password = f"reader-{uuid.uuid4().hex[:6]}", "a reader's password"
    Clients(session_dir / "up").set_person(name, password)  # as `vsmesh user add` does
    sign_in(shell["VSMESH_GATEWAY_URL"], Path(shell["VSMESH_CONFIG_DIR"]), name, password)

    summary = vsmesh(shell, "summary", "ops-hub", "--json")
    assert summary.exit_code == 0, summary.output
    assert json.loads(summary.stdout)["hub"] == "ops-hub"

    # What the person writes, the person then reads back through the same gateway, as the hub folded it.
    entity = f"service/reads-{uuid.uuid4().hex[:6]}"
    data = json.dumps({"status": "red", "observations": {}})
    wrote = vsmesh(shell, "publish", "ops-health-checked", "--hub", "ops-hub", "--subject", entity, "--data", data)
    assert wrote.exit_code == 0, wrote.output
    [evidence] = evidence_through(shell, entity)
    assert (evidence["kind"], evidence["status"]) == ("health", "red")


def test_the_gateway_reads_only_reads_and_only_for_people(front_door, settings, session_dir: Path):
    name, password = f"reader-{uuid.uuid4().hex[:6]}", "a reader's password"
    Clients(session_dir / "up").set_person(name, password)
    person = asyncio.run(front_door.person_token(name, password))
    url = f"{front_door.base}/people/read"

    def post(token: str, body: dict) -> httpx.Response:
        return httpx.post(url, json=body, headers={"Authorization": f"Bearer {token}"}, timeout=30)

    write = post(person, {"hub": "ops-hub", "operation": "record_runbook_step", "request": {}})
    assert write.status_code == 400, write.text
    assert write.json()["message"] == (
        "record_runbook_step is no read operation: send a write to /people/call (`vsmesh call`)"
    )

    agent = f"agent-{uuid.uuid4().hex[:8]}"
    token = asyncio.run(front_door.agent_token(agent))
    refused = post(token, {"hub": "ops-hub", "operation": "get_incidents", "request": {}})
    assert refused.status_code == 403, refused.text
    assert refused.json()["message"].startswith("refused: agents read through MCP under their canon-hub mandates")
    [logged] = refusals_of(settings, agent, 1)
    # (the event's `access` is "read" unless it says otherwise: the default is left out of the stored event)
    assert (logged["data"]["operation"], logged["data"].get("access", "read")) == ("get_incidents", "read")

    answered = post(person, {"hub": "ops-hub", "operation": "get_incidents", "request": {}})
    assert answered.status_code == 200, answered.text
    assert "incidents" in answered.json()
