"""What the gateway keeps across its own crash: the caps' counts, and the approved calls it ran (run once).

The file runs a mesh of its own (`vsmesh up --no-demo` on a fresh data dir), not the session's: its gateway must be
the only one running approved calls. A crash is a SIGKILL of `vsmesh up`, whose servers outlive it; the next `up`
reuses them and serves the gateway on the same URL, so agents keep their tokens. Everything is real: the servers,
the gateway, its issuer, the `mcp` SDK's client.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import subprocess
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import msgspec
import pytest
from nats.js.errors import KeyNotFoundError

from tests.cli.test_up import mesh_processes, own_env, vsmesh
from tests.conftest import VSMESH, server_dir, wait_until
from tests.gateway.conftest import mcp_client
from tests.gateway.front_door import FrontDoor, once_allowed, refusal
from vsmesh.bus.connection import connect
from vsmesh.bus.contract_client import ask
from vsmesh.bus.creds import GATEWAY_BUCKET
from vsmesh.bus.publisher import Publisher
from vsmesh.bus.reader import Start, StreamReader
from vsmesh.errors import ContractError
from vsmesh.events import decode_event
from vsmesh.gateway.mcp.cap_store import key_of
from vsmesh.runtime.mesh_state import load_state, pid_alive
from vsmesh.settings import Settings

SPEND = "fin-hub:record_cost amount > 500 EUR"
PAUSED = "paused (VSMESH_PAUSE_AT)"


@dataclass
class Mesh:
    data_dir: Path
    output: Path
    proc: subprocess.Popen

    @property
    def env(self) -> dict[str, str]:
        return {"VSMESH_DATA_DIR": str(self.data_dir)}

    def settings(self) -> Settings:
        """The admin's settings of this mesh (what `vsmesh env` exports)."""
        s = load_state(self.data_dir)
        return Settings(data_dir=self.data_dir, nats_url=s.nats_url, nats_user=s.nats_user,
                        nats_password=s.nats_password, database_url=s.database_url)  # fmt: skip

    def start(self, **env: str) -> None:
        with open(self.output, "ab") as out:
            self.proc = subprocess.Popen(
                [*VSMESH, "up", "--no-demo"], env={**own_env(self.data_dir), **env}, stdout=out, stderr=out
            )
        mine = lambda: (state := load_state(self.data_dir)).ready and state.supervisor_pid == self.proc.pid  # noqa: E731
        wait_until(mine, timeout=180, what="vsmesh up", proc=self.proc, log=self.output)

    def crash_and_start(self, **env: str) -> None:
        """SIGKILL `vsmesh up` (gateway and all), then start it again on the servers it leaves running."""
        pid = self.proc.pid
        os.kill(pid, signal.SIGKILL)
        self.proc.wait(30)
        wait_until(lambda: not pid_alive(pid), timeout=30, what="the killed up to be gone")
        self.start(**env)


@pytest.fixture(scope="module")
def mesh() -> Iterator[Mesh]:
    root = server_dir()
    found = Mesh(root / "mesh", root / "up.out", None)  # type: ignore[arg-type]
    found.start()
    yield found
    found.proc.terminate()
    found.proc.wait(60)
    if mesh_processes(found.data_dir):
        vsmesh(found.data_dir, "down")
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def door(mesh: Mesh, cli_in) -> FrontDoor:
    """The file's mesh's gateway, as its agents and people reach it (the CLI as in that mesh's own terminal)."""
    cli = lambda *args: cli_in(mesh.env, mesh.data_dir.parent, *args)  # noqa: E731
    return FrontDoor(load_state(mesh.data_dir).gateway_url, mesh.data_dir, cli)


async def grant(mesh: Mesh, holder: str, scope: str, **more: Any) -> str:
    """A mandate published by the mesh's admin (as the demo grants its own); its id."""
    settings = mesh.settings()
    nc = await connect(settings)
    try:
        data = {"role": "Test Operator", "holder": holder, "scope": scope, **more}
        publisher = Publisher(nc.jetstream(), settings)
        event = publisher.build("canon-mandate-granted", hub="canon-hub", subject=f"mandate/{holder}", data=data)
        await publisher.publish(event)
        return event.id
    finally:
        await nc.close()


async def calls_stored(mesh: Mesh, mandate_id: str, calls: int, timeout: float = 10.0) -> None:
    """Wait until the gateway's bucket holds `calls` calls of the mandate: a call that spends nothing is stored
    within a moment after its answer, not before it (gateway/mcp/cap_store.py)."""
    nc = await connect(mesh.settings())
    try:
        kv = await nc.jetstream().key_value(GATEWAY_BUCKET)
        deadline = time.monotonic() + timeout
        while True:
            with contextlib.suppress(KeyNotFoundError):
                held = msgspec.json.decode((await kv.get(key_of(mandate_id))).value)
                if sum(n for _, n in held["calls"]) >= calls:
                    return
            assert time.monotonic() < deadline, f"the gateway's bucket holds no {calls} calls of {mandate_id}"
            await asyncio.sleep(0.05)
    finally:
        await nc.close()


def cost(amount: str, vendor: str) -> dict[str, Any]:
    return {"amount": amount, "currency": "EUR", "vendor": vendor}


async def test_caps_count_on_after_the_gateway_crashes(mesh, door, agent_name):
    caps = {"spend": {"amount": "100", "currency": "EUR", "per": "month"}}
    await grant(mesh, agent_name, "fin-hub:record_cost", caps=caps)
    reads = await grant(mesh, agent_name, "ops-hub:get_incidents", caps={"calls_per_minute": 2})
    token = await door.agent_token(agent_name)
    vendor = f"vendor-{agent_name}"
    async with mcp_client(door.url, token) as client:
        # Up to the spend cap, and up to the calls per minute of the other mandate.
        assert not (await once_allowed(client, "fin-hub__record_cost", cost("60", vendor))).is_error
        assert not (await client.call_tool("fin-hub__record_cost", cost("40", vendor))).is_error
        assert not (await once_allowed(client, "ops-hub__get_incidents", {})).is_error
        assert not (await client.call_tool("ops-hub__get_incidents", {})).is_error
    await calls_stored(mesh, reads, 2)

    mesh.crash_and_start()

    # The restarted gateway counts on from what it counted before: the next call over each cap is refused.
    async with mcp_client(door.url, token) as client:
        over = refusal(await once_allowed(client, "fin-hub__record_cost", cost("1", vendor)))
        assert "allows 100 EUR per month; 100 spent, 1 more would pass it" in over, over
        fast = refusal(await once_allowed(client, "ops-hub__get_incidents", {}))
        assert "allows 2 calls per minute; the next is allowed in" in fast, fast


async def test_an_approved_call_the_gateway_crashed_in_has_run_once(mesh, door, agent_name):
    await grant(mesh, agent_name, "fin-hub:record_cost", approve=[SPEND])
    # This time the gateway stops for good once an approved call has run, before it records that it did.
    mesh.crash_and_start(VSMESH_PAUSE_AT="approved-call-ran")
    big = cost("600.00", f"vendor-{agent_name}")
    async with mcp_client(door.url, await door.agent_token(agent_name)) as client:
        held = (await once_allowed(client, "fin-hub__record_cost", big)).structured_content["approval"]
    person, password = f"person-{uuid.uuid4().hex[:8]}", "a person's own password"
    await door.add_person(person, password)
    async with mcp_client(door.url, await door.person_token(person, password)) as client:
        decided = await client.call_tool("canon-hub__approve_call", {
            "approval_id": held["approval_id"], "arguments_hash": held["arguments_hash"],
        })  # fmt: skip
        assert not decided.is_error, decided.content[0].text
    said = mesh.output  # `vsmesh up`'s own output: its log lines
    wait_until(lambda: PAUSED in said.read_text(), timeout=60, what="the gateway to pause after the run", log=said)

    # Killed there, the gateway finds on its restart that the call ran: it records that, and runs nothing again.
    mesh.crash_and_start()
    nc = await connect(mesh.settings())
    try:
        ran = await executed(nc, held["approval_id"])
        effects = await caused_by(nc, held["approval_id"])
    finally:
        await nc.close()
    assert [e.id for e in effects] == [ran["result_event_id"]], effects
    assert effects[0].data.amount.amount == 600 and effects[0].actor == agent_name


async def executed(nc, approval_id: str, timeout: float = 60.0) -> dict[str, Any]:
    """canon-hub's view of the approval once its outcome is recorded."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            found = (await ask(nc, "canon-hub", "get_approval", {"approval_id": approval_id}))["approval"]
        except ContractError as e:  # canon-hub's projector follows the log
            assert e.code == "not_found", e
            found = {"status": None}
        if found["status"] not in (None, "pending", "approved"):
            assert found["status"] == "executed", found
            return found
        assert time.monotonic() < deadline, f"approval {approval_id} is still {found['status']}"
        await asyncio.sleep(0.2)


async def caused_by(nc, approval_id: str) -> list:
    """Every fin-cost-recorded event the approval caused, as stored."""
    found = []
    subjects = "strategic.fin-hub.fin-cost-recorded.>"
    async with StreamReader(nc.jetstream(), "STRATEGIC", subjects, Start()) as reader:
        async for batch in reader.drain_to_head():
            found += [e for e in map(decode_event, (m.data for m in batch)) if e.causationid == approval_id]
    return found
