"""The embedded servers of a data dir: started or adopted by `vsmesh up`, stopped in order, and what `vsmesh down`
stops when the mesh that started them is gone."""

from __future__ import annotations

import os
import signal
import time
from dataclasses import dataclass, field
from pathlib import Path

import structlog

from vsmesh.runtime.mesh_state import MeshState, fill_from, load_state, pid_alive, save_state, supervisor_alive
from vsmesh.runtime.nats_server import configure_nats, monitor_url, port_answers, reload_nats, start_nats, stop_pid
from vsmesh.runtime.postgres_server import SystemPlaces, postmaster_pid, start_postgres, stop_postgres
from vsmesh.settings import Settings

log = structlog.get_logger(__name__)


@dataclass
class EmbeddedServers:
    """What this `up` owns: the servers it started or adopted under its data dir."""

    data_dir: Path
    nats_pid: int | None = None
    postgres: bool = False
    places: SystemPlaces = field(default_factory=SystemPlaces)

    @property
    def pgdata(self) -> Path:
        return self.data_dir / "postgres"

    def stop(self) -> None:
        try:
            if self.nats_pid:
                stop_pid(self.nats_pid)
                log.info("nats-server stopped", pid=self.nats_pid)  # the order of these lines is the README's promise
                self.nats_pid = None
        finally:  # whatever failed before, PostgreSQL is not left running (it runs in a session of its own)
            if self.postgres:
                stop_postgres(self.pgdata, self.places)
                log.info("postgresql stopped")
                self.postgres = False


def start_servers(settings: Settings, servers: EmbeddedServers) -> Settings:
    """Start (or reuse) whatever the env does not point elsewhere; returns settings that reach them.

    What it starts is recorded in `servers` as it goes, so a failure half-way can still stop it.
    """
    data_dir = servers.data_dir
    data_dir.mkdir(parents=True, exist_ok=True)
    state = load_state(data_dir)
    if not settings.nats_url:
        if pid_alive(state.nats_pid) and state.nats_port and port_answers(state.nats_port):
            log.info("reusing nats-server", pid=state.nats_pid, port=state.nats_port)
            # Its users may predate this build or a new hub: rewrite them and let it reload.
            configure_nats(
                data_dir, port=state.nats_port, password=state.nats_password, monitor_port=state.nats_monitor_port
            )
            reload_nats(state.nats_pid, state.nats_monitor_port)
        else:
            nats = start_nats(
                data_dir, port=state.nats_port, password=state.nats_password, monitor_port=state.nats_monitor_port
            )
            state.nats_pid, state.nats_port, state.nats_url = nats.pid, nats.port, nats.url
            state.nats_user, state.nats_password = nats.user, nats.password
            state.nats_monitor_port = nats.monitor_port
            log.info("nats-server started", pid=nats.pid, url=nats.url, monitor=monitor_url(nats.monitor_port))
        servers.nats_pid = state.nats_pid
        save_state(data_dir, state)
    if not settings.database_url:
        reused = postmaster_pid(servers.pgdata) is not None
        servers.postgres = True
        state.database_url = start_postgres(servers.pgdata, servers.places)
        log.info("postgresql " + ("reused" if reused else "started"), url=state.database_url)
    save_state(data_dir, state)
    return fill_from(settings, state)


def mark(data_dir: Path, **changes: object) -> None:
    state = load_state(data_dir)
    for k, v in changes.items():
        setattr(state, k, v)
    save_state(data_dir, state)


def stop_mesh(settings: Settings, timeout: float = 30.0) -> str:
    """`vsmesh down`: ask the supervisor to stop; if it is gone, stop the servers it left."""
    data_dir = settings.data_dir.resolve()
    state: MeshState = load_state(data_dir)
    if supervisor_alive(state):
        os.kill(state.supervisor_pid, signal.SIGTERM)  # type: ignore[arg-type]
        deadline = time.monotonic() + timeout
        while supervisor_alive(state) and time.monotonic() < deadline:
            time.sleep(0.1)
        if supervisor_alive(state):
            return f"mesh (pid {state.supervisor_pid}) did not stop in {timeout:.0f} s"
        return f"mesh in {data_dir} stopped"
    nats_pid = state.nats_pid if pid_alive(state.nats_pid) else None
    left = EmbeddedServers(data_dir, nats_pid=nats_pid, places=SystemPlaces.of(settings))
    left.postgres = postmaster_pid(left.pgdata) is not None
    if not left.nats_pid and not left.postgres:
        return f"no mesh running in {data_dir}"
    left.stop()
    mark(data_dir, supervisor_pid=None, supervisor_started=None, ready=False, nats_pid=None)
    return f"servers left in {data_dir} stopped"
