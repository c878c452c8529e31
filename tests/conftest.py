"""Shared fixtures: one real nats-server and one real PostgreSQL per test session, never fakes."""

from __future__ import annotations

import os
import secrets
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import hypothesis
import pytest
from typer.testing import CliRunner

from vsmesh.runtime.mesh_state import MeshState, load_state, save_state
from vsmesh.runtime.nats_server import free_port, start_nats, stop_pid
from vsmesh.runtime.postgres_server import SystemPlaces, start_postgres, stop_postgres
from vsmesh.settings import Settings

VSMESH = [sys.executable, "-m", "vsmesh.cli.app"]

# Hypothesis' timing checks measure the machine, not the code: on 2 cores shared by several test runs (load
# 9-16) one draw took 1.6 s and failed test_provenance.py's health check when run alone. Examples stay as many.
hypothesis.settings.register_profile("vsmesh", deadline=None, suppress_health_check=[hypothesis.HealthCheck.too_slow])
hypothesis.settings.load_profile("vsmesh")


def server_dir() -> Path:
    """A temp dir (mode 0700) for server data outside pytest's own, which pytest may reset when another
    session starts. As root, PostgreSQL's system user cannot reach into it: its cluster then lives in the
    system home, linked from here (runtime/postgres_server.py), as for a data dir in a private home."""
    return Path(tempfile.mkdtemp(prefix="vsmesh-test-"))


# Where a session that had failures leaves its servers' data and the session mesh's log (up/mesh.log, up.log),
# one line per session: a failure seen once in a full run can be explained afterwards.
KEPT = Path(__file__).resolve().parents[1] / ".vsmesh" / "failed-test-sessions"


def pytest_configure(config) -> None:
    if not hasattr(config, "workerinput"):  # the run's controller: a new run, a new list
        KEPT.unlink(missing_ok=True)


def pytest_terminal_summary(terminalreporter, config) -> None:
    """The random order's seed at the end of every run, where `-q` (make test) still shows it, and where the
    data of sessions with failures was kept."""
    seed = getattr(config.option, "randomly_seed", None)
    if config.pluginmanager.hasplugin("randomly") and isinstance(seed, int):
        terminalreporter.write_line(f"test order: random, seed {seed} (again: -p randomly --randomly-seed={seed})")
    if terminalreporter.stats.get("failed") and KEPT.exists():
        for kept in KEPT.read_text().split():
            terminalreporter.write_line(f"kept for diagnosis (servers' data and mesh logs): {kept}")


# The files that take longest go first, so two workers (`make test`, --dist loadfile) share them from the
# start instead of one worker ending the run alone with one of them: the random order alone nearly doubled the
# suite's time when it put them last (docs/performance.md §Test suite has each file's seconds). Every other file,
# and the tests within each file, keep pytest-randomly's order (a stable sort after its shuffle).
SLOWEST_FILES = (
    # First of all: it rebuilds ops-hub one event per batch, from a log every other test makes longer.
    "tests/hubs/ops/test_ops_rebuild.py",
    "tests/runtime/test_postgres_server.py",
    "tests/cli/test_up.py",
    "tests/projectors/test_cli.py",
    "tests/bus/test_authorization.py",
    "tests/cluster/test_scale_out.py",
    "tests/bus/test_contract_identity.py",
    "tests/test_package.py",
    "tests/gateway/test_pages.py",
    "tests/gateway/test_gateway_crash.py",  # its own mesh, started three times
    "tests/projectors/test_crash.py",
    "tests/bus/test_publisher_restart.py",
    "tests/cluster/test_failover.py",
    "tests/probes/test_up.py",
    "tests/projectors/test_partitions.py",
    "tests/cluster/test_partitions.py",
    "tests/bus/test_hostile_input.py",
    "tests/gateway/test_mcp_http.py",
    "tests/cluster/test_compose.py",
    "tests/gateway/test_browser_promises.py",
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    rank = {path: i for i, path in enumerate(SLOWEST_FILES)}
    items.sort(key=lambda item: rank.get(item.nodeid.partition("::")[0], len(rank)))


@pytest.fixture(scope="session")
def session_dir(request: pytest.FixtureRequest) -> Iterator[Path]:
    path = server_dir()
    yield path
    if request.session.testsfailed:
        KEPT.parent.mkdir(exist_ok=True)
        with KEPT.open("a") as kept:
            kept.write(f"{path}\n")
    else:
        shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="session")
def nats_server(session_dir: Path) -> Iterator:
    # A random port: several test sessions (and a developer's own mesh on 4222) may run at once.
    server = start_nats(session_dir, port=free_port(), password=secrets.token_urlsafe(12))
    yield server
    stop_pid(server.pid)


@pytest.fixture(scope="session")
def database_url(session_dir: Path) -> Iterator[str]:
    pgdata = session_dir / "postgres"
    places = SystemPlaces.of(Settings.from_env(os.environ))  # VSMESH_POSTGRES_HOME/_USER, as `vsmesh up` reads them
    url = start_postgres(pgdata, places)
    yield url
    stop_postgres(pgdata, places)


@pytest.fixture(scope="session")
def mesh_env(nats_server, database_url: str, session_dir: Path) -> dict[str, str]:
    """`VSMESH_*` variables pointing at the session's servers, as a user of external servers sets them."""
    return {
        "VSMESH_NATS_URL": nats_server.url,
        "VSMESH_NATS_USER": nats_server.user,
        "VSMESH_NATS_PASSWORD": nats_server.password,
        "VSMESH_DATABASE_URL": database_url,
        "VSMESH_DATA_DIR": str(session_dir / "client"),
        "VSMESH_LOG_FORMAT": "json",
        # Nobody signed in, and never the tester's own sign-in (~/.config/vsmesh): `person` signs one in.
        "VSMESH_CONFIG_DIR": str(session_dir / "nobody-signed-in"),
    }


@pytest.fixture(scope="session")
def settings(mesh_env: dict[str, str]) -> Settings:
    return Settings.from_env(mesh_env)


@pytest.fixture(scope="session")
def streams(settings: Settings) -> None:
    """The mesh's streams on the session's server, for a test that publishes without `vsmesh up` running
    (a test that relied on another test's mesh for them failed when run alone or first)."""
    import asyncio

    from vsmesh.bus.connection import connect
    from vsmesh.bus.streams import ensure_streams

    async def create() -> None:
        nc = await connect(settings, name="test-streams")
        try:
            await ensure_streams(nc.jetstream(), max_msg_bytes=settings.max_event_bytes)
        finally:
            await nc.close()

    asyncio.run(create())


# The admin password of a test's own nats-server (`mesh`), which no other test shares.
OWN_MESH_PASSWORD = "own-mesh"


@pytest.fixture
def mesh() -> Iterator[Settings]:
    """A nats-server of the test's own, in a data dir whose state names it as `vsmesh up` leaves one: for a test
    that deletes or rewrites streams, or needs a server nothing else publishes on."""
    path = server_dir()
    server = start_nats(path, port=free_port(), password=OWN_MESH_PASSWORD)
    save_state(path, MeshState(nats_url=server.url, nats_user="admin", nats_password=OWN_MESH_PASSWORD,
                               nats_pid=server.pid, nats_port=server.port, ready=True))  # fmt: skip
    yield Settings(data_dir=path, nats_url=server.url, nats_user="admin", nats_password=OWN_MESH_PASSWORD)
    stop_pid(server.pid)
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def fresh_database(database_url: str) -> Iterator[str]:
    """A database of the test's own in the session's PostgreSQL: what it holds is this test's alone."""
    import asyncio
    import uuid

    import asyncpg

    name = f"own_{uuid.uuid4().hex[:8]}"

    async def run(sql: str) -> None:
        conn = await asyncpg.connect(database_url)
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    asyncio.run(run(f"CREATE DATABASE {name}"))
    yield database_url.replace("/postgres?", f"/{name}?", 1)
    asyncio.run(run(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))


@pytest.fixture
async def nc(settings: Settings):
    """A NATS connection as the admin user, for one test."""
    from vsmesh.bus.connection import connect

    client = await connect(settings)
    yield client
    await client.close()


@pytest.fixture(scope="session")
def running_mesh(mesh_env: dict[str, str], session_dir: Path) -> Iterator[subprocess.Popen]:
    """`vsmesh up` against the session's servers (external mode), projecting every hub."""
    env = {**os.environ, **mesh_env, "VSMESH_DATA_DIR": str(session_dir / "up")}
    # Held calls expire within a test's patience (tests/gateway/test_approvals.py waits for one to expire).
    env["VSMESH_APPROVAL_TTL_S"] = "15"
    # A file, not a pipe: nobody reads a session-long pipe, and a full one would freeze the mesh mid-session.
    log = session_dir / "up.log"
    with log.open("wb") as err:
        proc = subprocess.Popen([*VSMESH, "up"], env=env, stdout=subprocess.DEVNULL, stderr=err)
    # A bound, not a wait: ready in ~10 s on a quiet machine, but 60-75 s at load 15 on the shared 2 cores.
    ready = lambda: load_state(session_dir / "up").ready  # noqa: E731
    wait_until(ready, timeout=180, what="vsmesh up to be ready", proc=proc, log=log)
    yield proc
    proc.terminate()
    proc.wait(30)


# The session's person: signed in at the running mesh's issuer as `vsmesh login --device` does (tests/signing_in.py).
PERSON, PERSON_PASSWORD = "session-person", "the session's own password"


class SignedIn:
    """The person the CLI acts as in tests that use the session's running mesh: their writes go through its
    gateway, and governance (reverts, mandates) needs a password entered within VSMESH_STEP_UP_S."""

    def __init__(self, gateway_url: str, config_dir: Path, step_up_s: float) -> None:
        self.gateway_url, self.config_dir, self.step_up_s = gateway_url, config_dir, step_up_s
        self.name = PERSON
        self.auth_time = 0.0

    def fresh(self) -> Path:
        """The config dir of a sign-in fresh enough for governance for a while yet (signed in again if not)."""
        from tests.signing_in import sign_in

        if time.time() - self.auth_time > self.step_up_s / 2:
            session = sign_in(self.gateway_url, self.config_dir, PERSON, PERSON_PASSWORD)
            self.auth_time = float(session.auth_time or time.time())
        return self.config_dir


@pytest.fixture(scope="session")
def person(running_mesh, session_dir: Path, mesh_env: dict[str, str]) -> SignedIn:
    from vsmesh.gateway.identity.clients import Clients

    up = session_dir / "up"
    Clients(up).set_person(PERSON, PERSON_PASSWORD)  # as `vsmesh user add ada` does
    gateway_url = load_state(up).gateway_url
    assert gateway_url, "vsmesh up recorded no gateway URL in its mesh state"
    return SignedIn(gateway_url, session_dir / "person", Settings.from_env(mesh_env).step_up_s)


@pytest.fixture
def cli(mesh_env: dict[str, str], monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest):
    """Invoke the real CLI in-process, configured only through `VSMESH_*` like a user would; beside the session's
    running mesh, signed in as its person (`person`), so writes go through its gateway."""
    from vsmesh.cli.app import app

    for key, value in mesh_env.items():
        monkeypatch.setenv(key, value)
    if "running_mesh" in request.fixturenames:
        monkeypatch.setenv("VSMESH_CONFIG_DIR", str(request.getfixturevalue("person").fresh()))
    runner = CliRunner()

    def invoke(*args: str, input: str | None = None):
        return runner.invoke(app, list(args), input=input, catch_exceptions=False)

    return invoke


@pytest.fixture
def cli_in(monkeypatch: pytest.MonkeyPatch):
    """The real CLI in-process as in another terminal, in another directory: `cwd`, and of the `VSMESH_*`
    variables only `env` (what `eval "$(vsmesh env)"` exported there), none of the session's."""
    from vsmesh.cli.app import app

    def invoke(env: dict[str, str], cwd: Path, *args: str, input: str | None = None):
        for key in [k for k in os.environ if k.startswith("VSMESH_")]:
            monkeypatch.delenv(key)
        monkeypatch.setenv("VSMESH_CONFIG_DIR", str(cwd / ".nobody-signed-in"))  # never the tester's own sign-in
        for key, value in env.items():
            monkeypatch.setenv(key, value)
        monkeypatch.chdir(cwd)
        return CliRunner().invoke(app, list(args), input=input, catch_exceptions=False)

    return invoke


def exported(printed: str) -> dict[str, str]:
    """The variables `export NAME='value'` lines set, as a shell's `eval` reads them (comments skipped)."""
    words = [shlex.split(line, comments=True) for line in printed.splitlines()]
    pairs = [w[1].split("=", 1) for w in words if w[:1] == ["export"]]
    return {name: value for name, value in pairs}


def wait_until(
    check,
    *,
    timeout: float = 60.0,
    what: str = "condition",
    proc: subprocess.Popen | None = None,
    log: Path | None = None,
):
    """Poll `check` until it is truthy; fail naming what never happened (and what `proc` said, if it died)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        if proc is not None and proc.poll() is not None:
            err = log.read_text(errors="replace") if log else proc.stderr.read().decode() if proc.stderr else ""
            pytest.fail(f"process exited ({proc.returncode}) while waiting for {what}:\n{err[-2000:]}")
        time.sleep(0.05)
    pytest.fail(f"timed out after {timeout} s waiting for {what}")


def publish_as(settings: Settings, actor: str, kind: str, event_type: str, hub: str, subject: str | None,
               data: dict) -> dict[str, object]:  # fmt: skip
    """An event of `actor` (an agent's or a service's) stored on the mesh's own connection, as its write through
    the gateway or its hub's user leaves it on the log: for tests of what people do about it (audit, revert).
    Returns what `vsmesh publish --json` prints: id, stream, seq. (On a thread of its own: a page test's thread
    holds Playwright's event loop.)"""
    import asyncio
    from concurrent.futures import ThreadPoolExecutor

    from vsmesh.bus.connection import connect
    from vsmesh.bus.publisher import Publisher

    async def publish() -> dict[str, object]:
        nc = await connect(settings, name="test-acting")
        try:
            acting = Publisher(nc.jetstream(), settings.model_copy(update={"actor": actor, "actor_kind": kind}))
            done = await acting.publish(acting.build(event_type, hub=hub, subject=subject, data=data))
            return {"id": done.event_id, "stream": done.stream, "seq": done.sequence}
        finally:
            await nc.close()

    with ThreadPoolExecutor(1, thread_name_prefix="publish-as") as thread:
        return thread.submit(asyncio.run, publish()).result(120)
