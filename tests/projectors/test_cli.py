"""The engine through the CLI, on the session's real servers and `vsmesh up`: point-in-time copies read with
`summary --as-of`, listed and dropped; snapshots; status with each projector's head, lag and rate;
progress as log lines off a terminal."""

import asyncio
import json
import os
import signal
import subprocess
import threading
import time
import uuid

import asyncpg

from tests.conftest import VSMESH, wait_until
from tests.hub_lock import HeldHubLock
from vsmesh.bus.connection import connect
from vsmesh.bus.contract_client import ask


def staged(database_url: str) -> int:
    """The position the ops-hub staging schema reached (0 while there is none)."""

    async def position() -> int:
        conn = await asyncpg.connect(database_url)
        try:
            return await conn.fetchval("SELECT coalesce(max(position), 0) FROM ops_hub__rebuild.vsmesh_positions")
        except (asyncpg.UndefinedTableError, asyncpg.InvalidSchemaNameError):
            return 0
        finally:
            await conn.close()

    return asyncio.run(position())


def publish_health(cli, name: str, status: str) -> int:
    """Publish one health check; returns its stream sequence."""
    data = json.dumps({"status": status})
    args = ("publish", "ops-health-checked", "--hub", "ops-hub", "--subject", f"service/{name}", "--data", data)
    result = cli(*args, "--json")
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)["seq"]


def status_of(cli, name: str, *extra: str) -> str | None:
    result = cli("summary", "ops-hub", *extra, "--json")
    assert result.exit_code == 0, result.output
    return next((s["status"] for s in json.loads(result.stdout)["services"] if s["name"] == name), None)


def test_a_point_in_time_copy_answers_as_the_hub_was(cli, running_mesh):
    name, copy = f"svc-{uuid.uuid4().hex[:8]}", f"before-{uuid.uuid4().hex[:6]}"
    was_green = publish_health(cli, name, "green")
    publish_health(cli, name, "red")
    wait_until(lambda: status_of(cli, name) == "red", timeout=10, what="red in the live summary")

    # Built up to the green event: the copy says green while the live hub says red.
    built = cli("rebuild", "ops-hub", "--into", copy, "--to-seq", str(was_green), "--json")
    assert built.exit_code == 0, built.output
    assert json.loads(built.stdout)["positions"]["OPERATIONAL"] <= was_green
    assert status_of(cli, name, "--as-of", copy) == "green"
    assert status_of(cli, name) == "red"

    # Listed (also in status), then dropped; reading a dropped copy is one clear error.
    listed = json.loads(cli("rebuild", "--list", "--json").stdout)
    assert any(c["name"] == copy and c["hub"] == "ops-hub" and c["state"] == "complete" for c in listed)
    assert copy in [c["name"] for c in json.loads(cli("status", "--json").stdout)["point_in_time"]]
    assert cli("rebuild", "--drop", copy).exit_code == 0
    gone = cli("summary", "ops-hub", "--as-of", copy)
    assert gone.exit_code == 1 and f"no point-in-time copy named {copy!r}" in gone.stderr


def test_rebuild_flags_are_checked_before_anything_runs(cli):
    for args, says in (
        (("rebuild",), "give a HUB"),
        (("rebuild", "ops-hub", "--to-seq", "5"), "needs --into NAME"),
        (("rebuild", "ops-hub", "--into", "x", "--as-of", "yesterday-ish"), "is no time"),
        (("rebuild", "ops-hub", "--into", "Bad Name", "--to-seq", "1"), "point-in-time name"),
        (("rebuild", "--drop", "never-built"), "no point-in-time copy named 'never-built'"),
    ):
        result = cli(*args)
        assert result.exit_code != 0 and says in result.output + result.stderr, (args, result.output)


class Asking:
    """Asks ops-hub's contract for its summary over and over from a thread of its own (the CLI under test runs
    its own event loop), keeping when each answer came and every failure."""

    def __init__(self, settings, name: str) -> None:
        self.settings, self.name = settings, name
        self.answered: list[float] = []
        self.errors: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=lambda: asyncio.run(self._run()), daemon=True)

    async def _run(self) -> None:
        nc = await connect(self.settings, name="test-asking")
        try:
            while not self._stop.is_set():
                try:
                    summary = await ask(nc, "ops-hub", "get_domain_summary", {"limit": 5000})
                    if not any(s["name"] == self.name for s in summary["services"]):
                        self.errors.append(f"{self.name} missing: the hub answered from a half-built schema")
                    self.answered.append(time.monotonic())
                except Exception as e:  # noqa: BLE001 - every failure is the finding
                    self.errors.append(repr(e))
        finally:
            await nc.close()

    def __enter__(self) -> "Asking":
        self._thread.start()
        wait_until(lambda: self.answered or self.errors, timeout=30, what="the first answer")
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(30)


def test_rebuild_logs_progress_lines_off_a_terminal_while_the_hub_answers(cli, running_mesh, settings):
    # The README's promise: the hub keeps answering its contract while `vsmesh rebuild` replaces its schema.
    name = f"svc-{uuid.uuid4().hex[:8]}"
    publish_health(cli, name, "green")
    wait_until(lambda: status_of(cli, name) == "green", timeout=15, what="the service in the live summary")
    with Asking(settings, name) as asking:
        started = time.monotonic()
        result = cli("rebuild", "ops-hub")
        ended = time.monotonic()
    assert result.exit_code == 0, result.output
    assert not asking.errors, asking.errors[:3]
    during = [t for t in asking.answered if started <= t <= ended]
    assert len(during) >= 3, f"{len(during)} answers during a {ended - started:.1f} s rebuild"
    assert "ops-hub rebuilt from" in result.stdout
    lines = [json.loads(line) for line in result.stderr.splitlines() if line.startswith("{")]
    progress = [line for line in lines if line.get("event") == "rebuild progress"]
    assert progress and {"hub", "events", "total", "events_per_s", "eta_s"} <= set(progress[-1])


def test_a_rebuild_in_partitions_split_by_the_server_leaves_the_hub_as_it_was(cli, running_mesh, settings):
    name = f"svc-{uuid.uuid4().hex[:8]}"
    publish_health(cli, name, "red")
    wait_until(lambda: status_of(cli, name) == "red", timeout=15, what="the service in the live summary")
    result = cli("rebuild", "ops-hub", "--partitions", "2")
    assert result.exit_code == 0, result.output
    assert "ops-hub rebuilt from" in result.stdout
    assert status_of(cli, name) == "red"
    # Its positions are a single projector's again (a partition's row left behind would show in `status`).
    status = cli("status", "--json")
    assert status.exit_code == 0 and '"ops-hub p0"' not in status.stdout, status.output
    # The server keeps the split for the next time: a stream per horizon stream of ops-hub.
    info = asyncio.run(split_stream(settings, "SPLIT_OPERATIONAL_ops-hub_2"))
    assert info.config.sources[0].name == "OPERATIONAL" and info.state.messages


async def split_stream(settings, name: str):
    nc = await connect(settings)
    try:
        return await nc.jetstream().stream_info(name)
    finally:
        await nc.close()


def test_snapshot_is_stored_beside_the_log_and_listed(cli, running_mesh):
    # Something of ops-hub's applied, whichever test ran first on the session's mesh (it has no demo).
    name = f"snap-{uuid.uuid4().hex[:6]}"
    publish_health(cli, name, "green")
    wait_until(lambda: status_of(cli, name) == "green", timeout=15, what="the service in the live summary")
    taken = cli("snapshot", "ops-hub", "--json")
    assert taken.exit_code == 0, taken.output
    info = json.loads(taken.stdout)
    assert info["hub"] == "ops-hub" and info["positions"]["OPERATIONAL"] > 0
    listed = json.loads(cli("snapshot", "--list", "--json").stdout)
    assert info["name"] in [s["name"] for s in listed]


def test_status_shows_each_projector_with_head_lag_and_rate(cli, running_mesh):
    # 200 events at once: the report covering the interval that applied them shows a rate above zero.
    lines = "".join(json.dumps({"status": "green"}) + "\n" for _ in range(200))
    args = ("publish", "ops-health-checked", "--hub", "ops-hub", "--subject", f"service/rate-{uuid.uuid4().hex[:6]}")
    assert cli(*args, "--data", "-", input=lines).exit_code == 0

    # `vsmesh up` reports through the status bucket every few seconds.
    rows: list[dict] = []

    def ops_row():
        rows[:] = json.loads(cli("status", "--json").stdout)["projectors"]
        row = next(r for r in rows if r["hub"] == "ops-hub")
        return row if row["running"] and row["lag"] == 0 and row["events_per_s"] > 0 else None

    row = wait_until(ops_row, timeout=15, what="ops-hub reported as running, caught up and applying events")
    assert row["head"] >= row["position"] > 0
    assert row["last_error"] is None
    # ops' handlers say what they key on: a revert re-folds its entities; fin's do not: the whole hub.
    reverts = {r["hub"]: r["reverts"] for r in rows}
    assert reverts["ops-hub"] == "entities" and reverts["fin-hub"] == "whole hub"


def kill_while_building(settings, env: dict[str, str], tmp_path) -> None:
    """A rebuild in its own process, SIGKILLed once its staging schema holds some batches. The hub's write lock
    is held meanwhile, so the rebuild cannot swap: however fast it builds, it is killed before it finishes."""
    with HeldHubLock(settings.database_url, "ops-hub"), open(tmp_path / "rebuild.log", "ab") as err:
        proc = subprocess.Popen([*VSMESH, "rebuild", "ops-hub", "--batch-size", "100"], env=env, stderr=err)
        building = lambda: staged(settings.database_url) > 0  # noqa: E731
        wait_until(building, timeout=30, what="the rebuild to write batches", proc=proc)
        proc.send_signal(signal.SIGKILL)
        proc.wait()


def test_a_killed_rebuild_starts_over_with_fresh_or_resumes(cli, running_mesh, mesh_env, settings, tmp_path):
    lines = "\n".join(json.dumps({"status": ("green", "red")[i % 2]}) for i in range(20_000)) + "\n"
    args = ("publish", "ops-health-checked", "--hub", "ops-hub", "--subject", f"service/k-{uuid.uuid4().hex[:6]}")
    assert cli(*args, "--data", "-", input=lines).exit_code == 0

    env = {**os.environ, **mesh_env}
    kill_while_building(settings, env, tmp_path)

    # Left behind and listed as interrupted; the live hub answers as before.
    listed = json.loads(cli("rebuild", "--list", "--json").stdout)
    assert any(b["schema"] == "ops_hub__rebuild" and b["finished_at"] is None for b in listed)
    assert cli("summary", "ops-hub", "--json").exit_code == 0

    # `--fresh` drops what was left and starts over; killed again, the next plain run picks it up where it stopped.
    for flags, resumed in ((("--fresh",), False), ((), True)):
        if resumed:
            kill_while_building(settings, env, tmp_path)
        done = cli("rebuild", "ops-hub", *flags, "--json")
        assert done.exit_code == 0, done.output
        assert json.loads(done.stdout)["resumed"] is resumed
        assert not [b for b in json.loads(cli("rebuild", "--list", "--json").stdout) if b["hub"] == "ops-hub"]


def test_every_hub_rebuilds_the_registry_and_manifest_hubs_too(cli, running_mesh, mesh_env, person):
    """`vsmesh rebuild syn-hub` answered "unknown hub"; every hub goes through the same engine paths now.
    (Rebuilds run as their own process: one learns syn-hub's declared types, as it must to fold them.)"""

    def vsmesh(*args: str) -> subprocess.CompletedProcess:
        env = {**os.environ, **mesh_env, "VSMESH_CONFIG_DIR": str(person.fresh())}  # writes as the session's person
        return subprocess.run([*VSMESH, *args], env=env, capture_output=True, text=True, timeout=120)

    assert cli("hub", "bootstrap", "syn-hub").exit_code == 0
    written = vsmesh("publish", "syn-conflict-detected", "--hub", "syn-hub", "--subject", "syn-conflicts",
                     "--data", '{"metadata": {"repo": "rebuilt"}}', "--json")  # fmt: skip
    assert written.returncode == 0, written.stderr

    def timeline() -> list:
        shown = cli("summary", "syn-hub", "--json")
        if shown.exit_code != 0:
            return []  # a hub bootstrapped a moment ago starts within the registry's next look
        return [e for e in json.loads(shown.stdout)["recent_events"] if e["type"] == "syn-conflict-detected"]

    wait_until(timeline, what="the declared event in syn-hub")
    before = timeline()
    for hub in ("syn-hub", "registry"):
        done = vsmesh("rebuild", hub, "--json")
        assert done.returncode == 0, done.stderr
        assert json.loads(done.stdout)["hub"] == hub
    assert timeline() == before
    assert json.loads(cli("hub", "show", "syn-hub", "--json").stdout)["active_manifest"]["status"] == "active"

    copy = f"syn-{uuid.uuid4().hex[:6]}"
    assert vsmesh("rebuild", "syn-hub", "--into", copy, "--json").returncode == 0
    assert copy in cli("rebuild", "--list").stdout
    assert cli("rebuild", "--drop", copy).exit_code == 0
    snap = vsmesh("snapshot", "syn-hub", "--json")
    assert snap.returncode == 0, snap.stderr
    listed = json.loads(cli("status", "--json").stdout)["projectors"]
    assert {"syn-hub", "registry"} <= {p["hub"] for p in listed}

    unknown = vsmesh("rebuild", "no-such-hub")
    assert unknown.returncode == 1 and "known hubs:" in unknown.stderr and "syn-hub" in unknown.stderr


def test_rebuild_diff_and_diff_between_copies_from_the_cli(cli, running_mesh):
    """`vsmesh rebuild HUB --diff` off a terminal swaps an identical result and says so; `vsmesh diff` compares
    two copies (and the live hub); its mistakes are one line each (the engine side: test_diff.py)."""

    done = cli("rebuild", "registry", "--diff", "--json")
    assert done.exit_code == 0, done.output
    answer = json.loads(done.stdout)
    assert answer["swapped"] is True and answer["diff"]["identical"] is True
    assert {t["table"] for t in answer["diff"]["tables"]} >= {"hubs", "manifests"}

    copy = f"reg-{uuid.uuid4().hex[:6]}"
    assert cli("rebuild", "registry", "--into", copy, "--json").exit_code == 0
    same = cli("diff", "registry", "--as-of", copy, "--as-of", "live", "--json")
    assert same.exit_code == 0, same.output
    assert json.loads(same.stdout)["identical"] is True
    assert cli("rebuild", "--drop", copy).exit_code == 0
    for args, says in (
        (
            ("diff", "registry", "--as-of", "never-built", "--as-of", "live"),
            "no point-in-time copy named 'never-built'",
        ),
        (("diff", "registry", "--as-of", "live"), "give --as-of twice"),
        (("rebuild", "registry", "--diff", "--into", "x"), "vsmesh diff HUB"),
    ):
        result = cli(*args)
        assert result.exit_code != 0 and says in result.stderr, (args, result.stderr)
        assert "Traceback" not in result.stderr
