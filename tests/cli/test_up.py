"""`vsmesh up` on the embedded default: real servers under a data dir, reused, stopped without orphans.

One data dir serves the file (a cluster made once; each test leaves it stopped): each `up` costs seconds, an
initdb more, and every test here is about starting and stopping, not about what a new data dir holds.
"""

import json
import os
import shlex
import shutil
import signal
import subprocess
from pathlib import Path

import httpx
import psutil
import pytest

from tests.conftest import VSMESH, server_dir, wait_until
from tests.signing_in import sign_in
from vsmesh.gateway.identity.clients import Clients
from vsmesh.hubs import discovered
from vsmesh.runtime.mesh_state import load_state, pid_alive
from vsmesh.runtime.postgres_server import postmaster_pid


def own_env(data_dir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("VSMESH_")}
    return {**env, "VSMESH_DATA_DIR": str(data_dir)}


def vsmesh(data_dir: Path, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    """The CLI as a process of its own: for what a second process on the data dir is the point of."""
    return subprocess.run([*VSMESH, *args], env=own_env(data_dir), capture_output=True, text=True, timeout=timeout)


def start_foreground(data_dir: Path, output: Path) -> subprocess.Popen:
    """`vsmesh up` in the foreground, its output in the file `output` (a pipe nobody reads would fill and
    freeze the mesh)."""
    with open(output, "ab") as out:
        proc = subprocess.Popen([*VSMESH, "up", "--no-demo"], env=own_env(data_dir), stdout=out, stderr=out)
    # Ready as said by this process: a killed `up` leaves `ready` in mesh.json behind it.
    mine = lambda: (state := load_state(data_dir)).ready and state.supervisor_pid == proc.pid  # noqa: E731
    wait_until(mine, timeout=120, what="vsmesh up", proc=proc, log=output)
    return proc


def mesh_processes(data_dir: Path) -> list[dict]:
    """Processes naming the data dir, or the cluster its `postgres` links to (as root, out of reach of
    PostgreSQL's user, the cluster lives elsewhere and its server names only that place)."""
    places = {str(data_dir), str((data_dir / "postgres").resolve())}
    return [
        p.info
        for p in psutil.process_iter(["pid", "cmdline"])
        if any(place in " ".join(p.info["cmdline"] or []) for place in places)
    ]


@pytest.fixture(scope="module")
def shared_dir():
    root = server_dir()
    yield root / "mesh"
    if mesh_processes(root / "mesh"):
        vsmesh(root / "mesh", "down")
    shutil.rmtree(root, ignore_errors=True)


def modes(path: Path) -> dict[str, int]:
    """The mode of `path` and of its every parent."""
    return {str(p): p.stat().st_mode & 0o7777 for p in [path, *path.parents]}


@pytest.fixture
def data_dir(shared_dir: Path, cli_in):
    """The file's data dir, stopped again after the test, whatever it left running. It lies in a 0700
    directory, as in a private home: no `up` may open that, or any parent (as root PostgreSQL's own user
    cannot reach in, and its cluster lives elsewhere: runtime/postgres_server.py)."""
    before = modes(shared_dir.parent)
    yield shared_dir
    cli_in({"VSMESH_DATA_DIR": str(shared_dir)}, shared_dir.parent, "down")
    assert mesh_processes(shared_dir) == []
    assert modes(shared_dir.parent) == before
    assert before[str(shared_dir.parent)] == 0o700


def test_ctrl_c_through_a_pipe_stops_everything_and_the_next_up_keeps_the_events(data_dir, cli_in):
    def cli(*args: str):
        return cli_in({"VSMESH_DATA_DIR": str(data_dir)}, data_dir.parent, *args)

    def publish(status: str) -> None:
        """As a person of this mesh, signed in at its gateway (`vsmesh user add`, `vsmesh login`)."""
        config = data_dir.parent / "person"
        Clients(data_dir).set_person("up-tester", "up-tester's password")
        sign_in(load_state(data_dir).gateway_url or "", config, "up-tester", "up-tester's password")
        env = {"VSMESH_DATA_DIR": str(data_dir), "VSMESH_CONFIG_DIR": str(config)}
        data = json.dumps({"status": status})
        args = ("publish", "ops-health-checked", "--hub", "ops-hub", "--subject", "service/gitea", "--data", data)
        done = cli_in(env, data_dir.parent, *args)
        assert done.exit_code == 0, done.output

    def services() -> list[tuple[str, str]]:
        return [(s["name"], s["status"]) for s in json.loads(cli("summary", "ops-hub", "--json").stdout)["services"]]

    # `vsmesh up 2>&1 | cat` and Ctrl-C: the terminal signals the whole job, so `cat` dies with it and the
    # mesh's next log line meets a pipe without a reader. The stop must still run to its end.
    line = f"{shlex.join([*VSMESH, 'up', '--no-demo'])} 2>&1 | cat"
    job = subprocess.Popen(["sh", "-c", line], env=own_env(data_dir), stdout=subprocess.DEVNULL, start_new_session=True)
    try:
        in_job = lambda pid: pid in {c.pid for c in psutil.Process(job.pid).children(recursive=True)}  # noqa: E731
        piped = wait_until(
            lambda: (s := load_state(data_dir)).ready and in_job(s.supervisor_pid) and s, timeout=120, what="piped up"
        )
        publish("green")
        wait_until(lambda: services() == [("gitea", "green")], timeout=20, what="gitea green")
        assert mesh_processes(data_dir)  # the check below sees the servers while they run
        log_start = (data_dir / "mesh.log").stat().st_size if (data_dir / "mesh.log").exists() else 0
        os.killpg(job.pid, signal.SIGINT)
        wait_until(lambda: not pid_alive(piped.supervisor_pid), timeout=60, what="the piped up to stop")
        job.wait(30)
    finally:
        if job.poll() is None:
            os.killpg(job.pid, signal.SIGKILL)
            job.wait(30)
    assert mesh_processes(data_dir) == [], "a server of the mesh outlived Ctrl-C through a pipe"
    assert not pid_alive(piped.nats_pid) and postmaster_pid(data_dir / "postgres") is None
    # With the terminal gone, the rest of the stop was told in the data dir's log.
    told = (data_dir / "mesh.log").read_text()[log_start:]
    assert "postgresql stopped" in told and "mesh stopped" in told, told[-2000:]

    # The next `up` starts cleanly, and the events and the read model outlived the full stop.
    again = cli("up", "--detach", "--no-demo")
    assert again.exit_code == 0 and "up in the background" in again.stdout, again.output
    assert services() == [("gitea", "green")]
    # The gateway serves on the port it had: clients and agents' credentials keep its URL.
    assert load_state(data_dir).gateway_url == piped.gateway_url
    assert httpx.get(f"{piped.gateway_url}/readyz").text == "ready"

    # A killed `up` leaves its servers running; the next `up` reuses them rather than starting others.
    state = load_state(data_dir)
    postgres = postmaster_pid(data_dir / "postgres")
    os.kill(state.supervisor_pid, signal.SIGKILL)
    wait_until(lambda: not pid_alive(state.supervisor_pid), timeout=30, what="the killed up to be gone")
    assert pid_alive(state.nats_pid) and postmaster_pid(data_dir / "postgres") == postgres
    output = data_dir.parent / "reused.out"
    proc = start_foreground(data_dir, output)
    assert load_state(data_dir).nats_pid == state.nats_pid
    assert postmaster_pid(data_dir / "postgres") == postgres
    said = output.read_text()
    assert "reusing nats-server" in said and "postgresql reused" in said
    assert services() == [("gitea", "green")]
    assert "service/gitea" in cli("tail", "--no-follow").stdout
    assert load_state(data_dir).gateway_url == piped.gateway_url

    # A second `up` on the same data dir says so and leaves the first alone.
    second = vsmesh(data_dir, "up", timeout=60)
    assert f"already up in {data_dir}" in second.stdout, second.stdout + second.stderr
    assert proc.poll() is None
    # `vsmesh env` prints what a script needs; the state file holding the password is private.
    exports = cli("env").stdout
    assert "export VSMESH_NATS_URL=" in exports and "export VSMESH_DATABASE_URL=" in exports
    assert (data_dir / "mesh.json").stat().st_mode & 0o777 == 0o600

    # The projector resumed from its position: a new event applies once, on top.
    publish("red")
    wait_until(lambda: services() == [("gitea", "red")], timeout=20, what="red")
    assert len(json.loads(cli("summary", "ops-hub", "--json").stdout)["recent_events"]) == 2

    # `vsmesh down` stops it (SIGTERM: a clean exit), and its servers with it.
    assert "stopped" in cli("down").stdout
    assert proc.wait(60) == 0, output.read_text()[-2000:]
    assert not pid_alive(state.nats_pid) and postmaster_pid(data_dir / "postgres") is None
    assert "no mesh found" in cli("summary", "ops-hub").stderr


def test_up_on_a_terminal_prints_a_banner_and_keeps_the_detail_in_the_log(data_dir):
    """A person at a terminal: a short banner and a status line, not the mesh's structured log lines."""
    import pty
    import select
    import time

    main, side = pty.openpty()
    proc = subprocess.Popen([*VSMESH, "up", "--no-demo"], env=own_env(data_dir), stdin=side, stdout=side, stderr=side)
    os.close(side)
    seen = b""
    log_start = (data_dir / "mesh.log").stat().st_size if (data_dir / "mesh.log").exists() else 0
    try:
        deadline = time.monotonic() + 90
        while b"Ctrl-C stops" not in seen and time.monotonic() < deadline and proc.poll() is None:
            if select.select([main], [], [], 0.5)[0]:
                try:
                    seen += os.read(main, 65536)
                except OSError:  # EIO: every process of the terminal's side has closed it (up exited)
                    break
        text = seen.decode(errors="replace")
        assert "vsmesh ready in" in text, f"exit {proc.poll()}: {text[-2000:]}"
        state = load_state(data_dir)
        coded = f"{len(discovered())} coded"
        for shown in (str(data_dir), state.nats_url, "PostgreSQL", coded, "couplings", "mesh.log"):
            assert shown in text, (shown, text[-2000:])
        assert "projector following" not in text and '"level"' not in text  # the detail is in the log file
        assert "projector following" in (data_dir / "mesh.log").read_text()[log_start:]
        # Ctrl-C (SIGINT, as the terminal sends it) stops the projectors, then nats-server, then PostgreSQL.
        proc.send_signal(signal.SIGINT)
        assert proc.wait(60) == 0
        logged = [json.loads(line) for line in (data_dir / "mesh.log").read_text()[log_start:].splitlines()
                  if line.startswith("{")]  # fmt: skip
        order = [line["event"] for line in logged if line["event"].endswith("stopped")]
        assert order == ["projectors stopped", "nats-server stopped", "postgresql stopped", "mesh stopped"], order
        assert not pid_alive(state.nats_pid) and postmaster_pid(data_dir / "postgres") is None
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
        proc.wait(60)
        os.close(main)


def test_a_failure_during_start_up_stops_what_was_started(data_dir):
    """`vsmesh up` starts its parts on an AsyncExitStack: a hub that cannot start (here an unknown one) after
    the servers, the connection and the database pool were up stops all of them, with one error line."""
    result = vsmesh(data_dir, "up", "--hub", "no-such-hub", "--no-demo")
    assert result.returncode == 1, result.stdout + result.stderr
    assert "Traceback" not in result.stderr, result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "unknown hub 'no-such-hub'" in errors[0], result.stderr
    assert "nats-server started" in result.stderr and "postgresql started" in result.stderr  # then it failed
    left = mesh_processes(data_dir)
    assert left == [], f"processes left under the data dir: {left}"
    state = load_state(data_dir)
    assert state.supervisor_pid is None and not state.ready and not pid_alive(state.nats_pid)
