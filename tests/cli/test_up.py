"""`vsmesh up` on the embedded default: real servers under a data dir, reused, stopped without orphans."""

import json
import os
import shutil
import signal
import subprocess

import psutil
import pytest

from tests.conftest import VSMESH, server_dir, wait_until
from vsmesh.runtime.mesh_state import load_state, pid_alive
from vsmesh.runtime.postgres_server import postmaster_pid


def vsmesh(data_dir, *args, check=True, timeout=120):
    env = {k: v for k, v in os.environ.items() if not k.startswith("VSMESH_")}
    env["VSMESH_DATA_DIR"] = str(data_dir)
    result = subprocess.run([*VSMESH, *args], env=env, capture_output=True, text=True, timeout=timeout)
    if check:
        assert result.returncode == 0, result.stderr
    return result


def start_foreground(data_dir, output):
    """`vsmesh up` in the foreground, its output in the file `output` (a pipe nobody reads would fill and
    freeze the mesh)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("VSMESH_")}
    env["VSMESH_DATA_DIR"] = str(data_dir)
    with open(output, "wb") as out:
        proc = subprocess.Popen([*VSMESH, "up", "--no-demo"], env=env, stdout=out, stderr=subprocess.STDOUT)
    # Ready as said by this process: a killed `up` leaves `ready` in mesh.json behind it.
    mine = lambda: (state := load_state(data_dir)).ready and state.supervisor_pid == proc.pid  # noqa: E731
    wait_until(mine, timeout=120, what="vsmesh up", proc=proc, log=output)
    return proc


@pytest.fixture
def data_dir():
    root = server_dir()
    yield root / "mesh"
    vsmesh(root / "mesh", "down", check=False)
    shutil.rmtree(root, ignore_errors=True)


def test_up_twice_then_sigterm_leaves_no_process(data_dir):
    proc = start_foreground(data_dir, data_dir.parent / "up.out")
    state = load_state(data_dir)
    assert pid_alive(state.nats_pid) and postmaster_pid(data_dir / "postgres")

    # A second `up` on the same data dir says so and leaves the first alone.
    again = vsmesh(data_dir, "up", timeout=60)
    assert f"already up in {data_dir}" in again.stdout
    assert proc.poll() is None

    # `vsmesh env` prints what a script needs; the state file holding the password is private.
    exports = vsmesh(data_dir, "env").stdout
    assert "export VSMESH_NATS_URL=" in exports and "export VSMESH_DATABASE_URL=" in exports
    assert (data_dir / "mesh.json").stat().st_mode & 0o777 == 0o600

    proc.send_signal(signal.SIGTERM)
    assert proc.wait(60) == 0
    assert not pid_alive(state.nats_pid)
    assert postmaster_pid(data_dir / "postgres") is None


def test_restarted_mesh_keeps_events_and_read_model(data_dir):
    up = vsmesh(data_dir, "up", "--detach", "--no-demo")
    assert "up in the background" in up.stdout
    vsmesh(
        data_dir,
        "publish",
        "ops-health-checked",
        "--hub",
        "ops-hub",
        "--subject",
        "service/gitea",
        "--data",
        '{"status":"green"}',
    )
    wait_until(lambda: "gitea" in vsmesh(data_dir, "summary", "ops-hub").stdout, timeout=10, what="gitea")

    # A killed `up` leaves its servers running; the next `up` reuses them rather than starting others.
    state = load_state(data_dir)
    postgres = postmaster_pid(data_dir / "postgres")
    os.kill(state.supervisor_pid, signal.SIGKILL)
    wait_until(lambda: not pid_alive(state.supervisor_pid), timeout=30, what="the killed up to be gone")
    assert pid_alive(state.nats_pid) and postmaster_pid(data_dir / "postgres") == postgres
    log_start = (data_dir / "mesh.log").stat().st_size
    vsmesh(data_dir, "up", "--detach")
    assert load_state(data_dir).nats_pid == state.nats_pid
    assert postmaster_pid(data_dir / "postgres") == postgres
    said = (data_dir / "mesh.log").read_text()[log_start:]
    assert "reusing nats-server" in said and "postgresql reused" in said
    summary = json.loads(vsmesh(data_dir, "summary", "ops-hub", "--json").stdout)
    assert [(s["name"], s["status"]) for s in summary["services"]] == [("gitea", "green")]
    assert "service/gitea" in vsmesh(data_dir, "tail", "--no-follow").stdout
    # The projector resumed from its position: a new event applies once, on top.
    vsmesh(
        data_dir,
        "publish",
        "ops-health-checked",
        "--hub",
        "ops-hub",
        "--subject",
        "service/gitea",
        "--data",
        '{"status":"red"}',
    )
    wait_until(lambda: '"red"' in vsmesh(data_dir, "summary", "ops-hub", "--json").stdout, timeout=10, what="red")
    events = json.loads(vsmesh(data_dir, "summary", "ops-hub", "--json").stdout)["recent_events"]
    assert len(events) == 2
    assert "stopped" in vsmesh(data_dir, "down").stdout
    assert "no mesh found" in vsmesh(data_dir, "summary", "ops-hub", check=False).stderr
    assert not pid_alive(state.nats_pid) and postmaster_pid(data_dir / "postgres") is None


def test_up_on_a_terminal_prints_a_banner_and_keeps_the_detail_in_the_log(data_dir):
    """A person at a terminal: a short banner and a status line, not the mesh's structured log lines."""
    import pty
    import select
    import time

    env = {k: v for k, v in os.environ.items() if not k.startswith("VSMESH_")}
    env["VSMESH_DATA_DIR"] = str(data_dir)
    main, side = pty.openpty()
    proc = subprocess.Popen([*VSMESH, "up", "--no-demo"], env=env, stdin=side, stdout=side, stderr=side)
    os.close(side)
    seen = b""
    try:
        deadline = time.monotonic() + 90
        while b"Ctrl-C stops" not in seen and time.monotonic() < deadline and proc.poll() is None:
            if select.select([main], [], [], 0.5)[0]:
                seen += os.read(main, 65536)
        text = seen.decode(errors="replace")
        assert "vsmesh ready in" in text, text[-2000:]
        state = load_state(data_dir)
        for shown in (str(data_dir), state.nats_url, "PostgreSQL", "6 coded", "couplings", "mesh.log"):
            assert shown in text, (shown, text[-2000:])
        assert "projector following" not in text and '"level"' not in text  # the detail is in the log file
        assert "projector following" in (data_dir / "mesh.log").read_text()
        # Ctrl-C (SIGINT, as the terminal sends it) stops the projectors, then nats-server, then PostgreSQL.
        proc.send_signal(signal.SIGINT)
        assert proc.wait(60) == 0
        logged = [json.loads(line) for line in (data_dir / "mesh.log").read_text().splitlines() if line.startswith("{")]
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
    result = vsmesh(data_dir, "up", "--hub", "no-such-hub", "--no-demo", check=False, timeout=120)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "Traceback" not in result.stderr, result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "unknown hub 'no-such-hub'" in errors[0], result.stderr
    assert "nats-server started" in result.stderr and "postgresql started" in result.stderr  # then it failed
    left = [
        p.info for p in psutil.process_iter(["pid", "cmdline"]) if str(data_dir) in " ".join(p.info["cmdline"] or [])
    ]
    assert left == [], f"processes left under the data dir: {left}"
    state = load_state(data_dir)
    assert state.supervisor_pid is None and not state.ready and not pid_alive(state.nats_pid)
