"""Hostile input: whatever bytes, JSON, headers or names arrive, vsmesh answers with its own errors only."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import os
import secrets
import subprocess
import uuid

import msgspec
import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st
from nats.js.errors import APIError

from tests.conftest import VSMESH, wait_until
from vsmesh.bus.connection import connect
from vsmesh.bus.publisher import Publisher
from vsmesh.bus.streams import ensure_streams
from vsmesh.bus.subjects import entity_from_token, entity_token, event_subject
from vsmesh.errors import InvalidEvent
from vsmesh.events.codec import decode_event, decode_message, encode_event
from vsmesh.events.registry import REGISTRY
from vsmesh.logs import configure_logging
from vsmesh.runtime.mesh_state import load_state
from vsmesh.settings import Settings

TYPES = sorted(REGISTRY.types())
FAST = hsettings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4),
    max_leaves=12,
)
ENVELOPE_KEYS = [
    "type",
    "specversion",
    "id",
    "source",
    "subject",
    "time",
    "hub",
    "actor",
    "actorkind",
    "correlationid",
    "causationid",
    "schemaversion",
    "data",
    "datacontenttype",
]
# Objects that look like events: known types, envelope keys, hostile values.
envelopes = st.fixed_dictionaries(
    {"type": st.sampled_from(TYPES) | st.text(max_size=20)},
    optional={k: json_values for k in ENVELOPE_KEYS if k != "type"}
    | {"schemaversion": st.integers(-3, 1 << 70) | json_values},
)


def decodes_or_refuses(call) -> None:
    try:
        call()
    except InvalidEvent:
        pass  # UnknownEventType is one too


@FAST
@given(st.binary(max_size=2048))
def test_decoder_survives_any_bytes(payload):
    decodes_or_refuses(lambda: decode_event(payload))


@FAST
@given(json_values)
def test_decoder_survives_any_json(value):
    decodes_or_refuses(lambda: decode_event(msgspec.json.encode(value)))


@FAST
@given(envelopes)
def test_decoder_survives_event_shaped_objects(raw):
    decodes_or_refuses(lambda: decode_event(msgspec.json.encode(raw)))


@FAST
@given(envelopes, st.binary(max_size=256), st.dictionaries(st.text(max_size=20), st.text(max_size=40), max_size=6))
def test_binary_mode_decoder_survives_hostile_headers(raw, body, extra):
    headers = {f"ce-{k}": v if isinstance(v, str) else json.dumps(v) for k, v in raw.items()}
    headers = {**headers, **extra, "ce-specversion": "1.0"}
    decodes_or_refuses(lambda: decode_message(body, headers))


@FAST
@given(st.text(max_size=64))
def test_entity_token_is_one_literal_token_or_refused(entity):
    controls = any((ord(c) < 0x20 or ord(c) == 0x7F or 0xD800 <= ord(c) <= 0xDFFF) and not c.isspace() for c in entity)
    try:
        token = entity_token(entity)
    except InvalidEvent as e:
        assert controls and "control characters" in str(e)
        return
    assert not controls
    assert token and not any(c in ".*>" or c.isspace() for c in token), token
    assert entity_from_token(token) == (entity or None)
    subject = event_subject("operational", "ops-hub", "ops-health-checked", entity)
    assert subject.split(".")[:3] == ["operational", "ops-hub", "ops-health-checked"] and subject.count(".") == 3


@pytest.mark.parametrize("entity", ["a\x00b", "x\x1b[31m", "del\x7f", "\x01", "lone\ud800"])
def test_control_characters_in_entities_are_refused(entity):
    with pytest.raises(InvalidEvent, match="control characters"):
        entity_token(entity)


@pytest.mark.parametrize(("a", "b"), [("a:b", "a/b"), ("_", None), ("a%2Eb", "a.b"), ("\u3000", "%E3%80%80")])
def test_distinct_entities_get_distinct_tokens(a, b):
    assert entity_token(a) != entity_token(b)


@FAST
@given(st.text(max_size=30))
def test_hub_and_type_names_never_become_wildcards(name):
    try:
        subject = event_subject("operational", name, "ops-health-checked", None)
    except InvalidEvent:
        return
    assert subject.count(".") == 3 and not set(subject) & set("*> \t")


def test_an_encoded_event_round_trips(settings):
    event = Publisher(None, settings).build(  # type: ignore[arg-type]
        "ops-health-checked", hub="ops-hub", subject="service/a.b*c>d e", data={"status": "green"}
    )
    assert decode_event(encode_event(event)) == event


# --- actor provenance ---------------------------------------------------------------------------


@pytest.mark.parametrize("actor", ["", "   ", "bob\x00", "\n"])
def test_publisher_refuses_an_event_without_an_actor(settings, actor):
    publisher = Publisher(None, settings.model_copy(update={"actor": actor}))  # type: ignore[arg-type]
    with pytest.raises(InvalidEvent, match="names no actor"):
        publisher.build("ops-health-checked", hub="ops-hub", subject=None, data={"status": "green"})
    # An event built elsewhere and stripped of its actor is refused before it is sent.
    good = Publisher(None, settings).build("ops-health-checked", hub="ops-hub", subject=None, data={"status": "red"})  # type: ignore[arg-type]
    with pytest.raises(InvalidEvent, match="names no actor"):
        publisher._wire(msgspec.structs.replace(good, actor=actor))


def test_publisher_refuses_an_unknown_actor_kind(settings):
    good = Publisher(None, settings).build("ops-health-checked", hub="ops-hub", subject=None, data={"status": "red"})  # type: ignore[arg-type]
    with pytest.raises(InvalidEvent, match="use human, agent or service"):
        Publisher(None, settings)._wire(msgspec.structs.replace(good, actorkind="god"))  # type: ignore[arg-type]


def test_the_cli_publishes_nothing_with_nobody_signed_in(cli, settings):
    """The CLI writes only through the gateway as a signed-in person: with nobody signed in, neither as the OS user
    nor as whoever --actor names, though the NATS admin's credentials are in its environment."""
    asyncio.run(_streams(settings))
    entity = f"service/prov-{uuid.uuid4().hex[:6]}"
    args = ("publish", "ops-health-checked", "--hub", "ops-hub", "--subject", entity, "--data", '{"status": "green"}')
    for forged in ((), ("--actor", "planner-7", "--actor-kind", "agent")):
        refused = cli(*args, *forged)
        assert refused.exit_code == 1
        assert (
            refused.stderr
            == "error: refused: publishing ops-health-checked needs a signed-in person: run `vsmesh login`\n"
        )
    assert entity.split("/")[1] not in cli("tail", "--json", "--hub", "ops-hub").stdout  # nothing stored


async def test_the_publisher_refuses_an_event_naming_no_actor_or_an_unknown_kind(settings):
    """What services publish with (their own identity) names who acted, in printable text, and of a known kind."""
    nc = await connect(settings)
    try:
        nameless = Publisher(nc.jetstream(), settings.model_copy(update={"actor": " "}))
        with pytest.raises(InvalidEvent, match="names no actor"):
            await nameless.publish(nameless.build("ops-health-checked", hub="ops-hub", subject="service/x",
                                                  data={"status": "red"}))  # fmt: skip
        publisher = Publisher(nc.jetstream(), settings)
        event = publisher.build("ops-health-checked", hub="ops-hub", subject="service/x", data={"status": "red"})
        with pytest.raises(InvalidEvent, match="VSMESH_ACTOR_KIND"):
            await publisher.publish(msgspec.structs.replace(event, actorkind="god"))
    finally:
        await nc.close()


async def _streams(settings: Settings) -> None:
    nc = await connect(settings)
    await ensure_streams(nc.jetstream(), max_msg_bytes=settings.max_event_bytes)
    await nc.close()


# --- oversize ----------------------------------------------------------------------------------


async def test_oversize_is_refused_by_the_stream_too(settings):
    """A client that skips vsmesh's own check still cannot store an event over the limit."""
    nc = await connect(settings)
    try:
        js = nc.jetstream()
        await ensure_streams(js, max_msg_bytes=settings.max_event_bytes)
        subject = f"operational.ops-hub.ops-health-checked.huge-{uuid.uuid4().hex[:6]}"
        with pytest.raises(APIError, match="(?i)maximum"):
            await js.publish(subject, b"x" * (settings.max_event_bytes + 1))
    finally:
        await nc.close()


# --- secrets in logs ---------------------------------------------------------------------------


@pytest.fixture
def restored_logging():
    """structlog's configuration as it was before the test: one at debug level would stay for every later test
    of the process (each then logging, and paying for, every debug line)."""
    import structlog

    saved = structlog.get_config()
    yield
    structlog.configure(**saved)


def test_secrets_never_reach_log_lines(capsys, restored_logging):
    secret = "s3cr3t-" + secrets.token_urlsafe(8)
    settings = Settings(
        nats_url=f"nats://admin:{secret}@127.0.0.1:4222",
        nats_password=secret,
        database_url=f"postgresql://vsmesh:{secret}@db/vsmesh",
        log_level="debug",
        log_format="json",
    )
    configure_logging(settings)
    import structlog

    log = structlog.get_logger("test")
    log.debug("settings", settings=settings, nats_password=secret, url=settings.nats_url)
    log.info("connecting", database_url=settings.database_url, Password=secret, token=secret)
    log.warning("retry", error=repr(ConnectionError(f"to {settings.nats_url}")))
    err = capsys.readouterr().err
    assert "settings" in err and "connecting" in err and "retry" in err
    assert secret not in err
    # The README's form: the user stays readable, the password becomes `***`.
    assert "nats://admin:***@127.0.0.1:4222" in err and "postgresql://vsmesh:***@db/vsmesh" in err
    assert secret not in repr(settings.model_copy(update={"nats_url": None, "database_url": None}))
    logging.getLogger("vsmesh").debug("%s", io.StringIO())  # stdlib logging is untouched


def test_an_exception_logged_as_json_carries_its_traceback_with_secrets_masked(capsys, restored_logging):
    secret = "s3cr3t-" + secrets.token_urlsafe(8)
    configure_logging(Settings(log_format="json"))
    import structlog

    try:
        raise KeyError(f"backup-set/db at postgresql://vsmesh:{secret}@db/vsmesh")
    except KeyError:
        structlog.get_logger("test").exception("contract handler failed", hub="ops-hub", operation="get_services")
    line = json.loads(capsys.readouterr().err.strip().splitlines()[-1])
    assert line["event"] == "contract handler failed" and line["operation"] == "get_services"
    assert "Traceback" in line["exception"] and "KeyError: 'backup-set/db at" in line["exception"]
    assert secret not in json.dumps(line) and "postgresql://vsmesh:***@db" in line["exception"]


def test_vsmesh_up_logs_no_password_at_debug_level(mesh_env, session_dir):
    """A whole `vsmesh up` (external mode, session servers) at debug level: its log holds no password."""
    data_dir = session_dir / f"up-debug-{uuid.uuid4().hex[:6]}"
    env = {
        **os.environ,
        **mesh_env,
        "VSMESH_DATA_DIR": str(data_dir),
        "VSMESH_LOG_LEVEL": "debug",
        "VSMESH_HUBS": "ops-hub",
    }
    # A file, not a pipe nobody reads while it runs: a debug-level mesh fills a pipe's 64 KiB and freezes.
    output = session_dir / f"{data_dir.name}.out"
    with output.open("wb") as out:
        proc = subprocess.Popen([*VSMESH, "up", "--no-demo"], env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        wait_until(lambda: load_state(data_dir).ready, what="vsmesh up to be ready", proc=proc, log=output)
    finally:
        proc.terminate()
        proc.wait(30)
    logged = output.read_text(errors="replace")
    assert '"mesh up"' in logged or "mesh up" in logged
    assert mesh_env["VSMESH_NATS_PASSWORD"] not in logged
