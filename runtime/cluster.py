"""A NATS JetStream cluster on one machine: N nats-server processes from the wheel, routed on loopback.

The same topology as docker-compose.yml, so the cluster (and failover) can be tried and tested
anywhere. Each node has its own `server_name`, client, route and monitoring port and JetStream store
(`<data dir>/<node>/jetstream`); all share the embedded runtime's users (`auth.conf`, see creds.py).
What runs is recorded in `<data dir>/cluster.json` (mode 0600: it holds the admin password).
"""

from __future__ import annotations

import json
import secrets
import time
import urllib.error
import urllib.request
from pathlib import Path

import msgspec

from vsmesh.bus.creds import ADMIN_USER, AUTH_FILE, ensure_users, write_private
from vsmesh.errors import ConfigError, MeshNotRunning
from vsmesh.runtime.mesh_state import pid_alive
from vsmesh.runtime.nats_server import (
    MAX_PAYLOAD,
    free_port,
    known_hubs,
    known_reads,
    port_answers,
    spawn_nats,
    stop_pid,
)

CLUSTER_FILE = "cluster.json"
CLUSTER_NAME = "vsmesh"
ROUTE_USER = "route"
CLUSTER_REPLICAS = 3  # streams on a cluster of three or more nodes


class ClusterNode(msgspec.Struct, kw_only=True):
    name: str
    port: int
    route_port: int
    monitor_port: int
    pid: int | None = None

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.port}"


class ClusterState(msgspec.Struct, kw_only=True):
    nodes: list[ClusterNode]
    user: str
    password: str
    route_password: str

    @property
    def urls(self) -> str:
        """The client URL list, as `VSMESH_NATS_URL` takes it."""
        return ",".join(n.url for n in self.nodes)

    def node(self, name: str) -> ClusterNode:
        for n in self.nodes:
            if n.name == name:
                return n
        raise ConfigError(f"no node {name!r} in this cluster ({', '.join(n.name for n in self.nodes)})")


def load_cluster(data_dir: Path) -> ClusterState | None:
    path = data_dir / CLUSTER_FILE
    if not path.exists():
        return None
    return msgspec.json.decode(path.read_bytes(), type=ClusterState)


def save_cluster(data_dir: Path, state: ClusterState) -> None:
    write_private(data_dir / CLUSTER_FILE, msgspec.json.format(msgspec.json.encode(state)))


def _node_config(data_dir: Path, node: ClusterNode, state: ClusterState) -> str:
    routes = [
        f"nats://{ROUTE_USER}:{state.route_password}@127.0.0.1:{n.route_port}"
        for n in state.nodes
        if n.name != node.name
    ]
    cluster = {
        "name": CLUSTER_NAME,
        "listen": f"127.0.0.1:{node.route_port}",
        "authorization": {"user": ROUTE_USER, "password": state.route_password},
        "routes": routes,
    }
    # One node has no routes, and nats-server refuses a JetStream cluster without any ("JetStream cluster
    # requires configured routes"): `cluster up --nodes 1` failed at start. Alone, it runs unclustered.
    clustered = f"cluster: {json.dumps(cluster)}\n" if routes else ""
    return (
        f"server_name: {json.dumps(node.name)}\n"
        f"listen: 127.0.0.1:{node.port}\n"
        f"http: 127.0.0.1:{node.monitor_port}\n"
        f"max_payload: {MAX_PAYLOAD}\n"
        f"jetstream {{ store_dir: {json.dumps(str(data_dir / node.name / 'jetstream'))} }}\n"
        f"{clustered}"
        # The config sits beside auth.conf in the data dir: includes are relative to the including file.
        f"authorization {{ include {json.dumps(AUTH_FILE)} }}\n"
    )


def start_node(data_dir: Path, state: ClusterState, name: str) -> ClusterNode:
    """Start one node (again) on its recorded ports; returns it with its new pid, state saved."""
    data_dir = data_dir.resolve()
    node = state.node(name)
    if pid_alive(node.pid) and port_answers(node.port):
        return node
    conf = data_dir / f"{node.name}.conf"
    write_private(conf, _node_config(data_dir, node, state).encode())
    (data_dir / node.name).mkdir(parents=True, exist_ok=True)
    proc = spawn_nats(conf, data_dir / f"{node.name}.log")
    node.pid = proc.pid
    save_cluster(data_dir, state)
    deadline = time.monotonic() + 15
    while not port_answers(node.port):
        if proc.poll() is not None:
            raise MeshNotRunning(f"{name} exited at start (code {proc.returncode}); see {data_dir}/{name}.log")
        if time.monotonic() > deadline:
            raise MeshNotRunning(f"{name} did not listen on port {node.port} in 15 s; see {data_dir}/{name}.log")
        time.sleep(0.05)
    return node


def healthy(node: ClusterNode) -> bool:
    """The node's monitoring `/healthz`: 200 once it is up and its JetStream is current with the cluster."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{node.monitor_port}/healthz", timeout=1) as r:
            return r.status == 200
    except (urllib.error.URLError, OSError):
        return False


def wait_healthy(state: ClusterState, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not all(healthy(n) for n in state.nodes):
        if time.monotonic() > deadline:
            sick = [n.name for n in state.nodes if not healthy(n)]
            raise MeshNotRunning(f"cluster nodes {sick} not healthy in {timeout:.0f} s; see their logs")
        time.sleep(0.1)


def start_cluster(data_dir: Path, *, nodes: int = 3, password: str | None = None) -> ClusterState:
    """Start (or resume) an N-node cluster under `data_dir`; waits until every node is healthy.

    Ports, passwords and stores are kept, so `cluster up` after `cluster down` resumes the same cluster.
    """
    if nodes < 1:
        raise ConfigError("a cluster needs at least one node (three for replicated streams)")
    data_dir = data_dir.resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    admin = ensure_users(data_dir, admin_password=password, hubs=known_hubs(), reads=known_reads())
    state = load_cluster(data_dir)
    if state is None or len(state.nodes) != nodes:
        if state is not None and any(pid_alive(n.pid) for n in state.nodes):
            raise ConfigError(f"a {len(state.nodes)}-node cluster runs in {data_dir}; `vsmesh cluster down` first")
        taken: set[int] = set()
        made = []
        for i in range(1, nodes + 1):
            ports = []
            for _ in range(3):
                port = free_port()
                while port in taken:
                    port = free_port()
                taken.add(port)
                ports.append(port)
            made.append(ClusterNode(name=f"n{i}", port=ports[0], route_port=ports[1], monitor_port=ports[2]))
        state = ClusterState(
            nodes=made, user=ADMIN_USER, password=admin.password, route_password=secrets.token_urlsafe(18)
        )
    state.password = admin.password
    save_cluster(data_dir, state)
    for node in state.nodes:
        start_node(data_dir, state, node.name)
    wait_healthy(state)
    return state


def stop_cluster(data_dir: Path) -> list[str]:
    """Stop every node (SIGTERM, then SIGKILL); returns the names of those that were running."""
    data_dir = data_dir.resolve()
    state = load_cluster(data_dir)
    if state is None:
        return []
    stopped = []
    for node in state.nodes:
        if pid_alive(node.pid):
            stop_pid(node.pid)
            stopped.append(node.name)
        node.pid = None
    save_cluster(data_dir, state)
    return stopped


async def cluster_size(nc) -> int:
    """How many servers the connected NATS is made of: 1 unless it is a cluster (INFO `cluster`)."""
    info = getattr(nc, "_server_info", None) or {}
    if not info.get("cluster"):
        return 1
    urls = set(info.get("connect_urls") or []) | {f"{h}:{p}" for h, p in _own_address(info)}
    return max(len(urls), 1)


def _own_address(info: dict) -> list[tuple[str, int]]:
    host, port = info.get("host"), info.get("port")
    return [(host, port)] if host and port else []


async def stream_replicas(nc, configured: int = 0) -> int:
    """Replicas for new streams and buckets: the setting if given, else 3 on a cluster of 3+, else 1."""
    if configured:
        return configured
    return CLUSTER_REPLICAS if await cluster_size(nc) >= CLUSTER_REPLICAS else 1
