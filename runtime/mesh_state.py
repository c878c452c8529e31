"""The running mesh's address book: `<data dir>/mesh.json` (mode 0600), read by every other command."""

from __future__ import annotations

import os
from pathlib import Path

import msgspec
import psutil

from vsmesh.errors import MeshNotRunning
from vsmesh.settings import Settings

STATE_FILE = "mesh.json"


class MeshState(msgspec.Struct, kw_only=True):
    nats_url: str | None = None
    nats_user: str | None = None
    nats_password: str | None = None
    nats_pid: int | None = None
    nats_port: int | None = None
    nats_monitor_port: int | None = None  # the embedded server's HTTP monitoring, on loopback
    database_url: str | None = None
    gateway_url: str | None = None  # pages, /metrics, MCP, the local OIDC issuer (loopback)
    gateway_port: int | None = None  # kept so a restarted mesh answers on the same port
    supervisor_pid: int | None = None
    supervisor_started: float | None = None  # its process's start time: a pid reused by another process is not it
    ready: bool = False


def state_path(data_dir: Path) -> Path:
    return data_dir / STATE_FILE


def load_state(data_dir: Path) -> MeshState:
    path = state_path(data_dir)
    if not path.exists():
        return MeshState()
    return msgspec.json.decode(path.read_bytes(), type=MeshState)


def save_state(data_dir: Path, state: MeshState) -> None:
    """Write atomically with mode 0600: the file holds the admin password."""
    data_dir.mkdir(parents=True, exist_ok=True)
    tmp = state_path(data_dir).with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(msgspec.json.format(msgspec.json.encode(state)))
    os.replace(tmp, state_path(data_dir))


def pid_alive(pid: int | None) -> bool:
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a zombie child is not alive for our purposes
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(") ", 1)[1][0] != "Z"
    except (OSError, IndexError):
        return True


def started_at(pid: int) -> float | None:
    """When the process started (seconds since the epoch), or None when there is none."""
    try:
        return psutil.Process(pid).create_time()
    except psutil.Error:
        return None


def supervisor_alive(state: MeshState) -> bool:
    """The `vsmesh up` the state names still runs. Its pid alone does not say so: a killed one leaves its pid
    behind, and pids wrap (at 32,768 on a small machine) to be reused by any other process."""
    if not pid_alive(state.supervisor_pid):
        return False
    if state.supervisor_started is None:  # written by a `vsmesh up` that did not keep its start time
        return True
    started = started_at(state.supervisor_pid)  # type: ignore[arg-type]
    return started is not None and abs(started - state.supervisor_started) < 1.0


def running(state: MeshState) -> bool:
    """A `vsmesh up` serves from this data dir: it said it was ready and its process lives (a killed one's
    mesh.json still says ready)."""
    return state.ready and supervisor_alive(state)


def not_running(data_dir: Path) -> MeshNotRunning:
    """The one line for a command that acts on a data dir's mesh (its users, agents, keys) where none runs."""
    where = data_dir.resolve()
    return MeshNotRunning(
        f"no mesh is running in {where}: start it with `vsmesh up --data-dir {where}`,"
        " or point VSMESH_DATA_DIR at the running mesh's data dir (`vsmesh env` prints it)"
    )


def running_state(data_dir: Path) -> MeshState:
    """The state of the mesh running from `data_dir`; `not_running` when none does, before anything is written."""
    state = load_state(data_dir)
    if not running(state):
        raise not_running(data_dir)
    return state


def with_mesh(settings: Settings) -> Settings:
    """Settings with the running embedded mesh's URLs and credentials filled in where env left them unset."""
    state = load_state(settings.data_dir)
    if not state.ready:
        return settings  # a stopped mesh's addresses would only lead to "cannot reach" errors
    return fill_from(settings, state)


def fill_from(settings: Settings, state: MeshState) -> Settings:
    """Settings with the state's addresses where the env left them unset.

    Credentials follow the environment: VSMESH_NATS_USER/_PASSWORD, when set, are used (a reader stays a
    reader, a wrong password is refused); the embedded admin's only when they are not.
    """
    updates: dict[str, object] = {}
    if not settings.nats_url and state.nats_url:
        updates["nats_url"] = state.nats_url
        if settings.nats_user is None and settings.nats_password is None:
            updates.update(nats_user=state.nats_user, nats_password=state.nats_password)
    if not settings.database_url and state.database_url:
        updates["database_url"] = state.database_url
    if not settings.gateway_url and state.gateway_url:
        updates["gateway_url"] = state.gateway_url
    return settings.model_copy(update=updates) if updates else settings
