"""Bootstrapping a hub, changing a stream's retention and signing the constitutional chain are governance: the CLI
sends each to the mesh's gateway (the session's running `vsmesh up`; for signing, the gateway on a server of the
test's own), which does it as the signed-in person — refused
with nobody signed in and with a stale sign-in (one line naming `vsmesh login --step-up`, the attempt on the log),
done after the step-up with the person recorded where the change lands. The shell here holds no NATS credentials
at all: only the person's sign-in.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import msgspec
import pytest
from nats.js.api import StorageType, StreamConfig

from tests.gateway.issuer_gateway import IssuerGateway, start_gateway
from tests.gateway.people_cli import error_line, read_event, refusals_of, vsmesh
from tests.hubs.registry.test_manifest_hubs import variant
from tests.signing_in import sign_in
from vsmesh.bus.connection import connect
from vsmesh.bus.streams import RETENTION_BY, RETENTION_SET, ensure_streams
from vsmesh.cli.session import save, signed_in
from vsmesh.gateway.governance import GovernanceWrites
from vsmesh.gateway.identity.clients import Clients
from vsmesh.gateway.identity.config import GatewayConfig
from vsmesh.gateway.identity.issuer import Issuer
from vsmesh.gateway.identity.resource import authenticate
from vsmesh.gateway.people import PeopleWrites
from vsmesh.runtime.chain_check import sign_chain
from vsmesh.settings import Settings

STEP_UP = "run `vsmesh login --step-up`"


def plain_stream(settings: Settings) -> str:
    """A stream no hub reads, on the session's server: its retention may change freely."""
    name = f"PLAIN_{uuid.uuid4().hex[:6].upper()}"

    async def add() -> None:
        nc = await connect(settings)
        try:
            await nc.jetstream().add_stream(StreamConfig(name=name, subjects=[f"{name.lower()}.>"],
                                                         storage=StorageType.FILE))  # fmt: skip
        finally:
            await nc.close()

    asyncio.run(add())
    return name


def stream_metadata(settings: Settings, name: str) -> tuple[float, dict[str, str]]:
    async def read() -> tuple[float, dict[str, str]]:
        nc = await connect(settings)
        try:
            config = (await nc.jetstream().stream_info(name)).config
            return config.max_age or 0, dict(config.metadata or {})
        finally:
            await nc.close()

    return asyncio.run(read())


def test_bootstrapping_and_retention_need_a_fresh_person(shell, settings, session_dir, tmp_path):
    name, password = f"gov-{uuid.uuid4().hex[:6]}", "a governor's password"
    Clients(session_dir / "up").set_person(name, password)  # as `vsmesh user add` does
    slug = f"gv{uuid.uuid4().hex[:4]}-hub"
    stream = plain_stream(settings)
    commands = {
        "bootstrapping a hub": ("hub", "bootstrap", str(variant(tmp_path, slug)), "--json"),
        "changing a stream's retention": ("streams", "retention", stream, "36h", "--json"),
    }

    # Nobody signed in: each refused before anything is sent, one line naming the step-up.
    for what, args in commands.items():
        alone = vsmesh(shell, *args)
        assert alone.exit_code == 1, (what, alone.output)
        assert error_line(alone) == f"error: refused: {what} is governance, which needs a signed-in person: {STEP_UP}"

    # Signed in ten minutes ago (a token of the mesh's own issuer whose password is that old, as a session an
    # agent kept refreshing would hold): the gateway refuses each in one line, and records each attempt.
    config = Path(shell["VSMESH_CONFIG_DIR"])
    session = sign_in(shell["VSMESH_GATEWAY_URL"], config, name, password)
    up = Settings(data_dir=session_dir / "up")
    issuer = Issuer(GatewayConfig.of(up, shell["VSMESH_GATEWAY_URL"]).issuer_config())
    stale = issuer.mint(subject=name, name=name, client_id="vsmesh-cli", actor_kind="human",
                        auth_time=int(time.time()) - 600)  # fmt: skip
    save(Settings(config_dir=config), msgspec.structs.replace(session, access_token=stale))
    for what, args in commands.items():
        refused = vsmesh(shell, *args)
        assert refused.exit_code == 1, (what, refused.output)
        line = error_line(refused)
        assert f"{what} needs a password entered within the last 300 s; {name} entered it 6" in line, line
        assert line.endswith(STEP_UP)
    logged = refusals_of(settings, name, 2)
    assert [e["data"]["operation"] for e in logged] == [f"bootstrap {slug}", f"retention {stream}"]
    assert all(e["actor"] == name and e["actorkind"] == "human" and STEP_UP in e["data"]["reason"] for e in logged)
    assert stream_metadata(settings, stream)[0] == 0  # nothing changed

    # After the step-up (the password again, at once), each is done by the gateway as the person.
    sign_in(shell["VSMESH_GATEWAY_URL"], config, name, password)
    assert time.time() - signed_in(Settings(config_dir=config)).auth_time < 60
    booted = vsmesh(shell, *commands["bootstrapping a hub"])
    assert booted.exit_code == 0, booted.output
    published = json.loads(booted.stdout)["published"]
    assert {p["type"] for p in published} >= {"hub-registered", "hub-manifest-activated"}
    for p in published:  # the registry's events name the person who bootstrapped the hub
        event = read_event(settings, "CONSTITUTIONAL", p["seq"])
        assert (event["type"], event["actor"], event["actorkind"]) == (p["type"], name, "human")

    kept = vsmesh(shell, *commands["changing a stream's retention"])
    assert kept.exit_code == 0, kept.output
    assert json.loads(kept.stdout)["set_by"] == name
    max_age, metadata = stream_metadata(settings, stream)
    assert max_age == 36 * 3600 and metadata[RETENTION_SET] == "36h" and metadata[RETENTION_BY] == name


@pytest.fixture
def own_gateway(mesh: Settings) -> Iterator[IssuerGateway]:
    """The gateway `vsmesh up` serves (issuer, people's writes and governance, the mesh's signing) on a
    nats-server of the test's own: the session's constitutional chain is not one this test's key may sign."""

    async def routes(settings: Settings, verifier, stack) -> list:
        nc = await connect(settings, name="test-governance")
        stack.push_async_callback(nc.close)
        await ensure_streams(nc.jetstream())
        writes = PeopleWrites(nc, settings, authenticate(verifier))
        return [*writes.routes(), *GovernanceWrites(writes, None, sign_chain).routes()]

    env = {"VSMESH_NATS_URL": mesh.nats_url or "", "VSMESH_NATS_USER": "admin",
           "VSMESH_NATS_PASSWORD": mesh.nats_password or "", "VSMESH_DEVICE_POLL_S": "1"}  # fmt: skip
    started = start_gateway(mesh.data_dir, env, routes=routes)
    yield next(started)
    started.close()


def test_signing_the_chain_needs_a_fresh_person_and_names_them(own_gateway, mesh, tmp_path):
    name, password = "signer", "a signer's password"
    Clients(mesh.data_dir).set_person(name, password)
    shell = {"VSMESH_GATEWAY_URL": own_gateway.url, "VSMESH_CONFIG_DIR": str(tmp_path / "config"),
             "VSMESH_DATA_DIR": str(tmp_path / "no-mesh-here"), "VSMESH_LOG_FORMAT": "json"}  # fmt: skip
    sign = ("verify", "--sign", "--json")

    alone = vsmesh(shell, *sign)
    assert alone.exit_code == 1
    assert error_line(alone).endswith(f"signing the chain is governance, which needs a signed-in person: {STEP_UP}")

    config = tmp_path / "config"
    session = sign_in(own_gateway.url, config, name, password)
    stale = own_gateway.issuer().mint(subject=name, name=name, client_id="vsmesh-cli", actor_kind="human",
                                      auth_time=int(time.time()) - 600)  # fmt: skip
    save(Settings(config_dir=config), msgspec.structs.replace(session, access_token=stale))
    refused = vsmesh(shell, *sign)
    assert refused.exit_code == 1
    line = error_line(refused)
    assert f"signing the chain needs a password entered within the last 300 s; {name} entered it 6" in line, line
    assert line.endswith(STEP_UP)
    [logged] = refusals_of(mesh, name, 1)
    assert logged["data"]["operation"] == "sign CONSTITUTIONAL" and STEP_UP in logged["data"]["reason"]

    # After the step-up, the gateway signs with the mesh's key (the shell never reads it), naming the person.
    sign_in(own_gateway.url, config, name, password)
    signed = vsmesh(shell, *sign)
    assert signed.exit_code == 0, signed.output
    report = json.loads(signed.stdout)
    assert report["intact"] and report["signed_by"] == name and f"signed the head now by {name}" in report["summary"]
    checkpoint = read_event(mesh, "CONSTITUTIONAL", report["checkpoint"]["seq"])
    assert (checkpoint["type"], checkpoint["actor"], checkpoint["actorkind"]) == ("chain-checkpointed", name, "human")
    # The mesh's own verify holds the checkpoint to its key.
    verified = vsmesh({"VSMESH_DATA_DIR": str(mesh.data_dir)}, "verify", "--json")
    assert verified.exit_code == 0, verified.output
    assert json.loads(verified.stdout)["signed_checkpoint_seq"] == report["checkpoint"]["seq"]
