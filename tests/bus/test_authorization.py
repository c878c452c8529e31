"""NATS authorisation of the embedded runtime, attacked with raw nats-py on a server of this module's own."""

from __future__ import annotations

import asyncio
import os
import secrets
import shutil
import stat
import uuid

import msgspec
import nats
import pytest
from nats.js.errors import NotFoundError
from typer.testing import CliRunner

from tests.conftest import server_dir
from vsmesh.bus.connection import connect
from vsmesh.bus.creds import READER_USER, hub_user, load_creds
from vsmesh.bus.mesh_state import MeshState, save_state
from vsmesh.bus.nats_server import free_port, start_nats, stop_pid
from vsmesh.bus.streams import ensure_streams
from vsmesh.errors import MeshNotRunning
from vsmesh.settings import Settings

ADMIN_PASSWORD = "admin-" + secrets.token_urlsafe(12)


@pytest.fixture(scope="module")
def secured():
    """A nats-server started the way `vsmesh up` starts it, with the mesh's streams."""
    path = server_dir()
    server = start_nats(path, port=free_port(), password=ADMIN_PASSWORD)
    save_state(path, MeshState(nats_url=server.url, nats_pid=server.pid, nats_port=server.port, ready=True))

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
    js = nc.jetstream()
    try:
        api = f"$JS.API.STREAM.{attack.upper()}.OPERATIONAL"
        with pytest.raises(nats.errors.TimeoutError):
            await nc.request(api, b"{}", timeout=0.5)
        assert await violated(errors, api)
        with pytest.raises(nats.errors.TimeoutError):
            await js.delete_stream("OPERATIONAL")
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
        with pytest.raises(nats.errors.TimeoutError):
            await js.delete_stream("OPERATIONAL")
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


def test_the_server_log_holds_no_password(secured):
    """After every attack above (refused logins included), nats-server's own log names no password."""
    _, path = secured
    logged = (path / "nats.log").read_text()
    for user in ("admin", READER_USER, hub_user("ops-hub")):
        assert load_creds(path, user).password not in logged
