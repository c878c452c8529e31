"""NATS authorisation of the embedded runtime, attacked with raw nats-py on a server of this module's own."""

from __future__ import annotations

import asyncio
import os
import secrets
import shutil
import stat
import time
import uuid

import msgspec
import nats
import pytest
from nats.js.errors import NotFoundError
from typer.testing import CliRunner

from tests.conftest import exported, server_dir
from vsmesh.bus.connection import connect
from vsmesh.bus.creds import GATEWAY_USER, READER_USER, hub_user, load_creds
from vsmesh.bus.publisher import Publisher
from vsmesh.bus.streams import ensure_streams
from vsmesh.errors import MeshNotRunning, VsmeshError
from vsmesh.runtime.mesh_state import MeshState, save_state, with_mesh
from vsmesh.runtime.nats_server import free_port, issue_hub_creds, start_nats, stop_pid
from vsmesh.settings import Settings

ADMIN_PASSWORD = "admin-" + secrets.token_urlsafe(12)


@pytest.fixture(scope="module")
def secured():
    """A nats-server started the way `vsmesh up` starts it, with the mesh's streams."""
    path = server_dir()
    server = start_nats(path, port=free_port(), password=ADMIN_PASSWORD)
    save_state(
        path,
        MeshState(
            nats_url=server.url,
            nats_user="admin",
            nats_password=ADMIN_PASSWORD,
            nats_pid=server.pid,
            nats_port=server.port,
            supervisor_pid=os.getpid(),  # this test process stands for the `vsmesh up` that owns the server
            ready=True,
        ),
    )

    async def streams():
        nc = await nats.connect(server.url, user="admin", password=ADMIN_PASSWORD)
        await ensure_streams(nc.jetstream())
        await nc.close()

    asyncio.run(streams())
    yield server, path
    stop_pid(server.pid)
    shutil.rmtree(path, ignore_errors=True)


async def login(server, user: str, password: str):
    """A raw client that keeps the server's async errors (permission violations arrive that way)."""
    errors: list[Exception] = []

    async def keep(e: Exception) -> None:
        errors.append(e)

    nc = await nats.connect(server.url, user=user, password=password, error_cb=keep, max_reconnect_attempts=0)
    return nc, errors


async def as_hub(server, path, hub: str):
    creds = load_creds(path, hub_user(hub))
    return await login(server, creds.user, creds.password)


async def last_on(server, stream: str, subject: str):
    nc = await nats.connect(server.url, user="admin", password=ADMIN_PASSWORD)
    try:
        return await nc.jetstream().get_last_msg(stream, subject)
    except NotFoundError:
        return None
    finally:
        await nc.close()


async def violated(errors: list[Exception], subject: str) -> bool:
    for _ in range(50):
        if any("permissions violation" in str(e).lower() and subject.lower() in str(e).lower() for e in errors):
            return True
        await asyncio.sleep(0.02)
    return False


def health(hub: str, entity: str) -> bytes:
    return msgspec.json.encode({"type": "ops-health-checked", "hub": hub, "subject": entity})


def test_credentials_are_private_files(secured):
    _, path = secured
    for user in ("admin", READER_USER, hub_user("ops-hub"), hub_user("fin-hub")):
        mode = stat.S_IMODE(os.stat(path / "creds" / f"{user}.json").st_mode)
        assert mode == 0o600, f"{user}: {oct(mode)}"
    for conf in ("nats.conf", "auth.conf"):
        assert stat.S_IMODE(os.stat(path / conf).st_mode) == 0o600
    assert load_creds(path, "admin").password == ADMIN_PASSWORD


async def test_ops_hub_cannot_publish_a_fin_hub_subject(secured):
    server, path = secured
    nc, errors = await as_hub(server, path, "ops-hub")
    subject = f"tactical.fin-hub.fin-spend-recorded.forged-{uuid.uuid4().hex[:6]}"
    try:
        with pytest.raises(nats.errors.TimeoutError):
            await nc.jetstream().publish(subject, health("fin-hub", "forged"), timeout=0.5)
        assert await violated(errors, subject)
    finally:
        await nc.close()
    assert await last_on(server, "TACTICAL", subject) is None


async def test_ops_hub_publishes_its_own_subjects(secured):
    server, path = secured
    nc, errors = await as_hub(server, path, "ops-hub")
    subject = f"operational.ops-hub.ops-health-checked.service:own-{uuid.uuid4().hex[:6]}"
    try:
        ack = await nc.jetstream().publish(subject, health("ops-hub", "own"), timeout=2)
    finally:
        await nc.close()
    assert ack.stream == "OPERATIONAL" and not errors
    stored = await last_on(server, "OPERATIONAL", subject)
    assert stored is not None and stored.seq == ack.seq


@pytest.mark.parametrize("attack", ["delete", "purge", "update", "create"])
async def test_ops_hub_cannot_touch_stream_configuration(secured, attack):
    server, path = secured
    nc, errors = await as_hub(server, path, "ops-hub")
    try:
        api = f"$JS.API.STREAM.{attack.upper()}.OPERATIONAL"
        with pytest.raises(nats.errors.TimeoutError):
            await nc.request(api, b"{}", timeout=0.5)
        assert await violated(errors, api)
        with pytest.raises(nats.errors.TimeoutError):  # refused: no answer comes, and a second proves it
            await nc.jetstream(timeout=1.0).delete_stream("OPERATIONAL")
    finally:
        await nc.close()
    admin = await nats.connect(server.url, user="admin", password=ADMIN_PASSWORD)
    try:
        info = await admin.jetstream().stream_info("OPERATIONAL")
        assert info.config.name == "OPERATIONAL"
    finally:
        await admin.close()


async def test_hub_user_cannot_answer_another_hubs_contract(secured):
    server, path = secured
    nc, errors = await as_hub(server, path, "ops-hub")
    try:
        await nc.subscribe("vsmesh.fin-hub.record_spend", queue="q")
        assert await violated(errors, "vsmesh.fin-hub.record_spend")
    finally:
        await nc.close()


async def test_hub_user_answers_discovery_only_for_its_own_service(secured):
    server, path = secured
    nc, errors = await as_hub(server, path, "ops-hub")
    try:
        for allowed in ("$SRV.PING", "$SRV.INFO.vsmesh-ops-hub", "$SRV.STATS.vsmesh-ops-hub.abc123"):
            await nc.subscribe(allowed)
        await nc.subscribe("$SRV.INFO.vsmesh-fin-hub")
        assert await violated(errors, "$SRV.INFO.vsmesh-fin-hub")
        assert not any("vsmesh-ops-hub" in str(e) or "$SRV.PING" in str(e) for e in errors)
    finally:
        await nc.close()


async def test_reader_reads_but_cannot_publish(secured):
    server, path = secured
    creds = load_creds(path, READER_USER)
    subject = f"operational.ops-hub.ops-health-checked.service:reader-{uuid.uuid4().hex[:6]}"
    admin = await nats.connect(server.url, user="admin", password=ADMIN_PASSWORD)
    await admin.jetstream().publish(subject, health("ops-hub", "reader"))
    await admin.close()
    nc, errors = await login(server, creds.user, creds.password)
    js = nc.jetstream()
    try:
        assert (await js.stream_info("OPERATIONAL")).config.name == "OPERATIONAL"
        sub = await js.subscribe(subject, ordered_consumer=True)  # what `vsmesh tail` and projectors use
        msg = await sub.next_msg(timeout=2)
        assert msg.subject == subject
        await sub.unsubscribe()
        forged = subject.replace("reader-", "forged-")
        with pytest.raises(nats.errors.TimeoutError):
            await js.publish(forged, health("ops-hub", "forged"), timeout=0.5)
        assert await violated(errors, forged)
        with pytest.raises(nats.errors.TimeoutError):  # refused: no answer comes, and a second proves it
            await nc.jetstream(timeout=1.0).delete_stream("OPERATIONAL")
    finally:
        await nc.close()
    assert await last_on(server, "OPERATIONAL", forged) is None


async def test_wrong_password_is_refused_with_a_clear_message(secured):
    server, _ = secured
    for user in ("admin", hub_user("ops-hub"), READER_USER):
        settings = Settings(nats_url=server.url, nats_user=user, nats_password="not-the-password")
        with pytest.raises(MeshNotRunning, match="refused the login: check VSMESH_NATS_USER and VSMESH_NATS_PASSWORD"):
            await connect(settings)
    anonymous = Settings(nats_url=server.url)
    with pytest.raises(MeshNotRunning, match="refused the login"):
        await connect(anonymous)


def test_creds_issue_adds_a_new_hub_user_to_the_running_server(secured, tmp_path):
    from vsmesh.cli.app import app

    server, path = secured
    env = {"VSMESH_DATA_DIR": str(path), "VSMESH_NATS_URL": "", "VSMESH_LOG_FORMAT": "json"}
    out = tmp_path / "lab.json"
    result = CliRunner().invoke(app, ["creds", "issue", "lab-hub", "--out", str(out)], env=env)
    assert result.exit_code == 0, result.output
    assert stat.S_IMODE(os.stat(out).st_mode) == 0o600
    creds = msgspec.json.decode(out.read_bytes())
    assert creds["user"] == "svc-lab-hub" and creds["nats_url"] == server.url
    assert creds["password"] not in result.output  # --out keeps it off the terminal

    again = CliRunner().invoke(app, ["creds", "issue", "lab-hub"], env=env)  # returns the same credentials
    assert again.exit_code == 0 and msgspec.json.decode(again.stdout)["password"] == creds["password"]

    async def publish_own_and_foreign():
        for _ in range(100):  # the server reloads its config asynchronously
            try:
                nc, errors = await login(server, creds["user"], creds["password"])
                break
            except nats.errors.Error:
                await asyncio.sleep(0.05)
        else:
            pytest.fail("the issued user never got in")
        try:
            ack = await nc.jetstream().publish("operational.lab-hub.ops-health-checked._", b"{}", timeout=2)
            foreign = "operational.ops-hub.ops-health-checked._"
            with pytest.raises(nats.errors.TimeoutError):
                await nc.jetstream().publish(foreign, b"{}", timeout=0.5)
            assert await violated(errors, foreign)
            return ack
        finally:
            await nc.close()

    assert asyncio.run(publish_own_and_foreign()).stream == "OPERATIONAL"


@pytest.mark.parametrize("hub", ["admin", "Ops.Hub", "ops-hub.>", "*", "reader "])
def test_creds_issue_refuses_names_that_are_not_hub_slugs(secured, hub):
    from vsmesh.cli.app import app

    _, path = secured
    env = {"VSMESH_DATA_DIR": str(path), "VSMESH_NATS_URL": ""}
    result = CliRunner().invoke(app, ["creds", "issue", hub], env=env)
    if hub == "admin":  # a valid slug, but its user is `svc-admin`, never the admin
        assert result.exit_code == 0
        assert msgspec.json.decode(result.stdout)["user"] == "svc-admin"
        assert load_creds(path, "admin").password == ADMIN_PASSWORD
    else:
        assert result.exit_code == 1 and "must be lower-case letters" in result.output


def test_a_service_logs_in_as_the_user_its_settings_name(secured):
    """A service outside the mesh publishes as the user its settings name (`VSMESH_NATS_USER`): named the reader,
    it stays a reader, and a refusal for permissions is one line at once (it was retried for ~13 s and read "is
    NATS up?"). The CLI publishes nothing itself: it writes through the gateway as a signed-in person."""
    server, path = secured
    reader = load_creds(path, READER_USER)
    entity = f"service/env-{uuid.uuid4().hex[:6]}"
    subject = f"operational.ops-hub.ops-health-checked.{entity.replace('/', ':')}"
    admin = with_mesh(Settings(data_dir=path))

    async def publish(on: str, **login: str) -> None:
        settings = admin.model_copy(update=login)
        nc = await connect(settings, name="test-service")
        try:
            publisher = Publisher(nc.jetstream(), settings)
            await publisher.publish(publisher.build("ops-health-checked", hub="ops-hub", subject=on,
                                                    data={"status": "green"}))  # fmt: skip
        finally:
            await nc.close()

    # The same publish on another entity, as admin, is the yardstick: a loaded machine slows both alike, while a
    # refusal retried like an outage takes ~13 s more.
    started = time.monotonic()
    asyncio.run(publish(f"{entity}-ok"))
    yardstick = time.monotonic() - started
    started = time.monotonic()
    with pytest.raises(VsmeshError) as refused:
        asyncio.run(publish(entity, nats_user=reader.user, nats_password=reader.password))
    took = time.monotonic() - started
    assert f"NATS user '{READER_USER}' may not publish on {subject}" in str(refused.value)
    assert "\n" not in str(refused.value)
    assert took < yardstick + 5, f"the refusal took {took:.1f} s ({yardstick:.1f} s to publish): it was retried"
    assert asyncio.run(last_on(server, "OPERATIONAL", subject)) is None

    with pytest.raises(VsmeshError) as wrong:
        asyncio.run(publish(entity, nats_user="admin", nats_password="not-the-password"))
    assert "refused the login" in str(wrong.value) and "VSMESH_NATS_PASSWORD" in str(wrong.value)
    assert asyncio.run(last_on(server, "OPERATIONAL", subject)) is None

    asyncio.run(publish(entity))  # the embedded admin, as the data dir names it
    assert asyncio.run(last_on(server, "OPERATIONAL", subject)) is not None


def test_creds_issue_in_the_environment_vsmesh_env_prints_acts_on_that_mesh(secured, cli_in, tmp_path):
    server, path = secured
    exports = cli_in({}, tmp_path, "env", "--data-dir", str(path))
    assert exports.exit_code == 0, exports.output
    env = exported(exports.stdout)
    assert env["VSMESH_NATS_URL"] == server.url and env["VSMESH_DATA_DIR"] == str(path.resolve())

    # Only that environment, in another directory: the URL is recognised as the mesh's own, the user made there
    issued = cli_in(env, tmp_path, "creds", "issue", "ops-hub")
    assert issued.exit_code == 0, issued.output
    creds = msgspec.json.decode(issued.stdout)
    assert creds["user"] == hub_user("ops-hub") and creds["nats_url"] == server.url
    assert not (tmp_path / ".vsmesh").exists()

    async def publish_as_ops_hub():  # the running server knows the user: it logs in and may publish ops-hub's events
        nc, _ = await login(server, creds["user"], creds["password"])
        try:
            return await nc.jetstream().publish("operational.ops-hub.ops-health-checked._", b"{}", timeout=2)
        finally:
            await nc.close()

    assert asyncio.run(publish_as_ops_hub()).stream == "OPERATIONAL"

    elsewhere = cli_in({**env, "VSMESH_NATS_URL": "nats://10.0.0.1:4222"}, tmp_path, "creds", "issue", "ops-hub")
    assert elsewhere.exit_code == 1 and "outside NATS server" in elsewhere.stderr


def test_the_server_log_holds_no_password(secured):
    """After every attack above (refused logins included), nats-server's own log names no password."""
    _, path = secured
    logged = (path / "nats.log").read_text()
    for user in ("admin", READER_USER, hub_user("ops-hub")):
        assert load_creds(path, user).password not in logged


GOVERNANCE_SUBJECTS = {
    "hub-registered": [
        "constitutional.registry.hub-registered.hub:{hub}",
        "constitutional.{hub}.hub-registered.hub:{hub}",
    ],
    "hub-manifest-activated": [
        "constitutional.registry.hub-manifest-activated.hub:{hub}",
        "constitutional.{hub}.hub-manifest-activated.hub:{hub}",
    ],
    "widget-created": ["constitutional.registry.widget-created.hub:{hub}", "constitutional.{hub}.widget-created.w"],
    "event-reverted": ["constitutional.{hub}.event-reverted.service:x"],
    "canon-policy-declared": ["constitutional.canon-hub.canon-policy-declared.policy:p"],
    "canon-mandate-granted": ["constitutional.canon-hub.canon-mandate-granted.role:r"],
    "chain-checkpointed": [
        "constitutional.registry.chain-checkpointed.chain:constitutional",
        "constitutional.{hub}.chain-checkpointed.chain:constitutional",
    ],
}


async def test_only_the_admin_publishes_governance_events(secured):
    """Every governance type (events/governance.py) under every issued identity, on its own subjects and the
    registry's: refused to the reader and to every hub user (the registry's and canon's included), stored
    for the admin."""
    from vsmesh.bus.creds import READER_USER
    from vsmesh.events.governance import ADMIN_ONLY_TYPES

    server, path = secured
    assert set(GOVERNANCE_SUBJECTS) == ADMIN_ONLY_TYPES  # a new governance type needs a row here
    hubs = ["ops-hub", "canon-hub", "registry", "syn-hub"]
    for hub in ("registry", "syn-hub"):  # issued as `vsmesh up` issues them
        await asyncio.to_thread(issue_hub_creds, path, hub)
    await asyncio.sleep(0.5)  # the reload after issuing
    identities = [(hub_user(h), h) for h in hubs] + [(READER_USER, "ops-hub")]
    for user, hub in identities:
        creds = load_creds(path, user)
        nc, errors = await login(server, creds.user, creds.password)
        try:
            for event_type, subjects in GOVERNANCE_SUBJECTS.items():
                for pattern in subjects:
                    subject = pattern.format(hub=hub)
                    await nc.publish(subject, b"{}")
                    assert await violated(errors, subject), f"{user} published {event_type} on {subject}"
        finally:
            await nc.close()
    nc = await nats.connect(server.url, user="admin", password=ADMIN_PASSWORD)
    try:
        for subjects in GOVERNANCE_SUBJECTS.values():
            for pattern in subjects:
                ack = await nc.jetstream().publish(pattern.format(hub="syn-hub"), b"{}")
                assert ack.seq > 0
    finally:
        await nc.close()


async def answering(server, subject: str):
    """An admin connection answering `subject` (standing in for a hub's contract) and what it received."""
    nc = await nats.connect(server.url, user="admin", password=ADMIN_PASSWORD)
    received: list[str] = []

    async def answer(msg) -> None:
        received.append(msg.subject)
        await msg.respond(b'{"ok": true}')

    await nc.subscribe(subject, cb=answer)
    await nc.flush()
    return nc, received


async def refused_request(server, user: str, password: str, subject: str) -> list[str]:
    """Send a contract request as `user`; assert the server refused it; returns what the responder got."""
    responder, received = await answering(server, subject)
    nc, errors = await login(server, user, password)
    try:
        with pytest.raises(nats.errors.TimeoutError):
            await nc.request(subject, b'{"actor": "forged"}', timeout=0.5)
        assert await violated(errors, subject), f"{user} sent {subject}"
    finally:
        await nc.close()
        await responder.close()
    return received


async def answered_request(server, user: str, password: str, subject: str) -> None:
    responder, received = await answering(server, subject)
    nc, errors = await login(server, user, password)
    try:
        reply = await nc.request(subject, b"{}", timeout=2)
        assert msgspec.json.decode(reply.data) == {"ok": True}
        assert received == [subject] and not errors
    finally:
        await nc.close()
        await responder.close()


async def test_the_reader_may_request_reads_but_no_write(secured):
    """A forged actor in a raw write request cannot come from the reader: its user may request reads only."""
    server, path = secured
    reader = load_creds(path, READER_USER)
    for read in ("vsmesh.ops-hub.get_risks", "vsmesh.fin-hub.get_runway", "vsmesh.registry.list_hubs"):
        await answered_request(server, reader.user, reader.password, read)
    for write in ("vsmesh.ops-hub.send_message", "vsmesh.canon-hub.escalate_issue", "vsmesh.syn-hub.record_event"):
        assert await refused_request(server, reader.user, reader.password, write) == []


async def test_hub_users_send_no_contract_request(secured):
    """A hub's service user answers its own contract and asks no hub anything, its own included."""
    server, path = secured
    creds = load_creds(path, hub_user("ops-hub"))
    for subject in ("vsmesh.fin-hub.get_runway", "vsmesh.canon-hub.escalate_issue", "vsmesh.ops-hub.send_message"):
        assert await refused_request(server, creds.user, creds.password, subject) == []


async def test_the_gateway_user_requests_contracts_but_publishes_no_event(secured):
    server, path = secured
    gateway = load_creds(path, GATEWAY_USER)
    await answered_request(server, gateway.user, gateway.password, "vsmesh.ops-hub.send_message")
    await answered_request(server, gateway.user, gateway.password, "vsmesh.ops-hub.get_risks")
    nc, errors = await login(server, gateway.user, gateway.password)
    subject = f"operational.ops-hub.ops-health-checked.service:gw-{uuid.uuid4().hex[:6]}"
    try:
        with pytest.raises(nats.errors.TimeoutError):
            await nc.jetstream().publish(subject, health("ops-hub", "gw"), timeout=0.5)
        assert await violated(errors, subject)
        # Of events only its refusals, on canon-hub (gateway/mcp/mcp_server.py)
        refusal = f"constitutional.canon-hub.canon-call-refused.actor:gw-{uuid.uuid4().hex[:6]}"
        assert (await nc.jetstream().publish(refusal, b"{}", timeout=2)).stream == "CONSTITUTIONAL"
        await nc.subscribe("vsmesh.ops-hub.get_risks")  # it may not answer a contract in a hub's place
        assert await violated(errors, "vsmesh.ops-hub.get_risks")
    finally:
        await nc.close()
    assert await last_on(server, "OPERATIONAL", subject) is None


def test_every_read_is_granted_to_the_reader_and_no_write():
    from vsmesh.hubs.operations import every_operation, read_operation_names

    reads = set(read_operation_names())
    for kind, operations in every_operation().items():
        for op in operations:
            assert (op.name in reads) is not op.writes, f"{kind} {op.name}"
    assert {"send_message", "escalate_issue", "record_event", "resolve_alert"}.isdisjoint(reads)
