"""aud-hub audits the mesh: `vsmesh audit run` on a fresh mesh passes every check and names what it read; a read
model altered by hand is found, named and resolved by a rebuild; an agent's event without a mandate is a finding.

A `vsmesh up` of its own, on a nats-server and a database of its own: a fresh mesh, and the test alters a hub's
table, which the session's mesh must keep whole.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import httpx
import pytest

from tests.conftest import VSMESH, publish_as, wait_until
from tests.gateway.conftest import mcp_client
from tests.gateway.front_door import FrontDoor, once_allowed, refusal
from tests.signing_in import sign_in
from vsmesh.bus.connection import connect
from vsmesh.bus.publisher import Publisher
from vsmesh.gateway.identity.clients import Clients
from vsmesh.runtime.mesh_state import load_state
from vsmesh.settings import Settings


@pytest.fixture
def audited(mesh, fresh_database, tmp_path) -> Iterator[dict[str, str]]:
    """`vsmesh up --no-demo` of the test's own, on a nats-server and a database of its own; its `VSMESH_*`."""
    env = {
        "VSMESH_NATS_URL": mesh.nats_url,
        "VSMESH_NATS_USER": "admin",
        "VSMESH_NATS_PASSWORD": mesh.nats_password,
        "VSMESH_DATABASE_URL": fresh_database,
        "VSMESH_DATA_DIR": str(tmp_path / "up"),
        "VSMESH_LOG_FORMAT": "json",
        "VSMESH_OPS_STALE_AMBER_MINUTES": "0.05",  # evidence is stale after 3 s: the freshness check's finding
    }
    log = tmp_path / "up.log"
    with log.open("wb") as out:
        clean = {k: v for k, v in os.environ.items() if not k.startswith("VSMESH_")}
        proc = subprocess.Popen([*VSMESH, "up", "--no-demo"], env=clean | env, stdout=out, stderr=out)
    try:
        ready = lambda: load_state(tmp_path / "up").ready  # noqa: E731
        wait_until(ready, timeout=120, what="vsmesh up to be ready", proc=proc, log=log)
        yield env
    finally:
        proc.terminate()
        proc.wait(30)


@pytest.fixture
def vsmesh(audited, cli_in, tmp_path):
    """The CLI in-process against the test's mesh, as an operator's terminal runs it: signed in as a person of
    that mesh (`vsmesh user add`, `vsmesh login`), whose writes go through its gateway."""
    data_dir = Path(audited["VSMESH_DATA_DIR"])
    Clients(data_dir).set_person("auditor-test", "the auditor's password")
    sign_in(load_state(data_dir).gateway_url or "", tmp_path / "person", "auditor-test", "the auditor's password")
    env = audited | {"VSMESH_CONFIG_DIR": str(tmp_path / "person")}

    def invoke(*args: str):
        return cli_in(env, tmp_path, *args)

    return invoke


def audit(vsmesh, *args: str) -> tuple[int, dict]:
    done = vsmesh("audit", "run", "--json", *args)
    assert done.exit_code in (0, 1), done.output
    return done.exit_code, json.loads(done.stdout)


def sql(database_url: str, statement: str) -> str:
    async def run() -> str:
        conn = await asyncpg.connect(database_url)
        try:
            return await conn.execute(statement)
        finally:
            await conn.close()

    return asyncio.run(run())


def open_findings(vsmesh) -> dict[str, dict]:
    listed = vsmesh("audit", "findings", "--json")
    assert listed.exit_code == 0, listed.output
    return {f["finding_id"]: f for f in json.loads(listed.stdout)}


async def grant(env: dict[str, str], holder: str, scope: str) -> None:
    """A canon-hub mandate, published by the mesh's admin as a person's grant (no person signs in to this mesh)."""
    settings = Settings.from_env(env)
    nc = await connect(settings)
    try:
        publisher = Publisher(nc.jetstream(), settings)
        data = {"role": "Auditor", "holder": holder, "scope": scope}
        await publisher.publish(publisher.build("canon-mandate-granted", hub="canon-hub", subject=f"mandate/{holder}",
                                                data=data))  # fmt: skip
    finally:
        await nc.close()


async def mcp_audit(door: FrontDoor, env: dict[str, str]) -> None:
    async with mcp_client(door.url, await door.agent_token("audit-bot")) as client:
        refused = await client.call_tool("aud-hub__run_audit", {"checks": ["chain"]})
        assert "missing mandate aud-hub:run_audit" in refusal(refused)
        await grant(env, "audit-bot", "aud-hub:run_audit")
        ran = await once_allowed(client, "aud-hub__run_audit", {"checks": ["chain"]})
        assert not ran.is_error and ran.structured_content["passed"], ran.content


def test_the_audit_passes_a_fresh_mesh_finds_a_hand_altered_row_and_an_unmandated_agent(vsmesh, audited):
    # A fresh mesh: every check passes, and each says what it read.
    code, fresh = audit(vsmesh)
    assert code == 0 and fresh["passed"], fresh
    read = {c["check"]: c["read"] for c in fresh["checks"]}
    assert set(read) == {"chain", "rebuild", "mandates", "freshness"}
    assert "CONSTITUTIONAL" in read["chain"] and "ops-hub" in read["rebuild"] and "canon-hub" in read["rebuild"]
    assert "agent and" in read["mandates"] and "get_services" in read["freshness"]
    shown = vsmesh("audit", "run", "--check", "chain")
    assert shown.exit_code == 0 and "every check passed" in shown.output

    # Over MCP: an agent without a mandate is refused (and the refusal recorded); with aud-hub:run_audit it runs it.
    door = FrontDoor(load_state(Path(audited["VSMESH_DATA_DIR"])).gateway_url, Path(audited["VSMESH_DATA_DIR"]), vsmesh)
    asyncio.run(mcp_audit(door, audited | {"VSMESH_ACTOR": "auditor-test"}))

    # A row of ops-hub's read model altered by hand: found, and the row and column named.
    published = vsmesh(
        "publish",
        "ops-inventory-registered",
        "--hub",
        "ops-hub",
        "--subject",
        "service/gitea",
        "--data",
        json.dumps({"name": "gitea", "kind": "service", "owner": "ops-team"}),
        "--json",
    )
    assert published.exit_code == 0, published.output
    wait_until(
        lambda: (
            "UPDATE 1"
            == sql(
                audited["VSMESH_DATABASE_URL"],
                "UPDATE ops_hub.inventory SET owner = 'mallory' WHERE entity = 'service/gitea'",
            )
        ),
        timeout=20,
        what="the row applied",
    )
    code, altered = audit(vsmesh, "--check", "rebuild", "--hub", "ops-hub")
    assert code == 1 and not altered["passed"]
    (raised,) = altered["raised"]
    assert raised["finding_id"] == "rebuild/ops-hub/inventory" and raised["severity"] == "high"
    assert "service/gitea" in raised["title"] and "mallory" in raised["title"] and "ops-team" in raised["title"]
    assert "rebuild/ops-hub/inventory" in open_findings(vsmesh)
    # The constitutional page lists it, linked to the event that raised it.
    page = httpx.get(f"{load_state(Path(audited['VSMESH_DATA_DIR'])).gateway_url}/constitutional", timeout=10).text
    assert 'data-finding="rebuild/ops-hub/inventory"' in page and f"/event/{raised['id']}" in page
    # Seen again unchanged: nothing published again (once per change).
    code, again = audit(vsmesh, "--check", "rebuild", "--hub", "ops-hub")
    assert code == 1 and again["raised"] == [] and again["resolved"] == []
    # The copy each comparison built is gone.
    assert "audit-ops-hub" not in vsmesh("rebuild", "--list").output

    # A rebuild restores the row from the log: the next audit resolves the finding.
    assert vsmesh("rebuild", "ops-hub").exit_code == 0
    code, restored = audit(vsmesh, "--check", "rebuild", "--hub", "ops-hub")
    assert code == 0 and [r["finding_id"] for r in restored["resolved"]] == ["rebuild/ops-hub/inventory"]
    assert "rebuild/ops-hub/inventory" not in open_findings(vsmesh)

    # An agent's event published without any mandate (by the admin, as the agent): a high finding, escalated.
    rogue = publish_as(Settings.from_env(audited), "rogue-bot", "agent", "ops-incident-opened", "ops-hub",
                       "service/gitea", {"title": "rogue", "severity": "low"})  # fmt: skip
    rogue_id = rogue["id"]
    code, unmandated = audit(vsmesh, "--check", "mandates")
    assert code == 1
    (finding,) = unmandated["raised"]
    assert finding["finding_id"] == f"mandates/{rogue_id}" and "rogue-bot" in finding["title"]

    def escalated() -> bool:
        escalations = json.loads(vsmesh("escalations", "canon-hub", "--json").stdout)
        return any("rogue-bot" in e["title"] for e in escalations)

    wait_until(escalated, timeout=30, what="the finding escalated to canon-hub")

    # Evidence that stopped coming: stale past ops-hub's bound, a finding naming the service.
    checked = vsmesh("publish", "ops-health-checked", "--hub", "ops-hub", "--subject", "service/gitea",
                     "--data", json.dumps({"status": "green"}))  # fmt: skip
    assert checked.exit_code == 0, checked.output

    def stale() -> list[dict]:
        return [
            r
            for r in audit(vsmesh, "--check", "freshness")[1]["raised"]
            if r["finding_id"] == "freshness/service/gitea"
        ]

    (went_stale,) = wait_until(stale, timeout=30, what="the health check to go stale")
    assert "evidence stale" in went_stale["title"] and went_stale["severity"] == "medium"

    # Bad arguments: one line naming the problem, and no audit runs.
    for args, said in [
        (("--check", "nope"), "unknown check 'nope'"),
        (("--since", "5x"), "no duration"),
        (("--hub", "nope-hub"), "hubs: unknown nope-hub"),
    ]:
        done = vsmesh("audit", "run", *args)
        assert done.exit_code != 0 and said in done.output, done.output
    bad = vsmesh("audit", "findings", "--status", "sometimes")
    assert bad.exit_code != 0 and "open, resolved or all" in bad.output
