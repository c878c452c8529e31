"""docker-compose.yml and deploy/nats.conf, checked without a Docker engine.

The NATS node config of the compose file is run for real: three nodes from deploy/nats.conf (its
hostnames and ports moved to loopback) must form a JetStream cluster that takes replicated streams
and answers the compose health check. The compose services must use only real settings and CLI flags.
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from tests.conftest import server_dir, wait_until
from vsmesh.bus.connection import connect
from vsmesh.bus.streams import STREAMS, ensure_streams
from vsmesh.runtime.nats_server import free_port, nats_server_binary, port_answers, stop_pid
from vsmesh.settings import ENV_PREFIX, Settings

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
NODE_CONFIG = (ROOT / "deploy" / "nats.conf").read_text()
NODES = ("nats1", "nats2", "nats3")
PASSWORD = "compose-test"


def _on_loopback(config: str, ports: dict[str, tuple[int, int, int]], node: str, store: Path) -> str:
    """deploy/nats.conf for one node, its hostnames and fixed ports moved to free loopback ports."""
    client, http, route = ports[node]
    config = config.replace("listen: 0.0.0.0:4222", f"listen: 127.0.0.1:{client}")
    config = config.replace("http: 0.0.0.0:8222", f"http: 127.0.0.1:{http}")
    config = config.replace("listen: 0.0.0.0:6222", f"listen: 127.0.0.1:{route}")
    config = config.replace("store_dir: /data", f'store_dir: "{store}"')
    for other, (_, _, other_route) in ports.items():
        config = config.replace(f"nats://{other}:6222", f"nats://127.0.0.1:{other_route}")
    assert "0.0.0.0" not in config and "/data" not in config, "deploy/nats.conf changed shape: update this test"
    return config


def distinct_ports(count: int) -> list[int]:
    """`count` ports free a moment ago, no two alike (free_port may hand back a port it gave before)."""
    ports: list[int] = []
    while len(ports) < count:
        port = free_port()
        if port not in ports:
            ports.append(port)
    return ports


def _start_nodes(folder: Path) -> tuple[dict[str, tuple[int, int, int]], list[subprocess.Popen]]:
    """The three nodes on fresh ports; a node that cannot bind one (taken since it was found free) fails it."""
    picked = distinct_ports(3 * len(NODES))
    ports = {node: tuple(picked[3 * i : 3 * i + 3]) for i, node in enumerate(NODES)}
    procs = []
    for i, node in enumerate(NODES, 1):
        conf = folder / f"{node}.conf"
        conf.write_text(_on_loopback(NODE_CONFIG, ports, node, folder / node))
        env = {**os.environ, "NATS_NAME": f"n{i}", "VSMESH_NATS_PASSWORD": PASSWORD}
        log = open(folder / f"{node}.log", "wb")  # noqa: SIM115 - the server's for its lifetime
        procs.append(subprocess.Popen([str(nats_server_binary()), "--config", str(conf)], env=env, stderr=log))
    return ports, procs


@pytest.fixture
def compose_nats():
    """The compose cluster's three nodes, each started from deploy/nats.conf."""
    folder = server_dir()
    procs: list[subprocess.Popen] = []
    try:
        for _ in range(3):  # another process may take a port between our check and a node's bind
            ports, procs = _start_nodes(folder)
            if not _any_port_taken(folder, ports, procs):
                break
            for proc in procs:
                stop_pid(proc.pid)
        for node, proc in zip(NODES, procs, strict=True):
            wait_until(lambda n=node: port_answers(ports[n][0]), what=f"{node} to listen", timeout=15, proc=proc)
        yield ports
    finally:
        for proc in procs:
            stop_pid(proc.pid)
        shutil.rmtree(folder, ignore_errors=True)


def _any_port_taken(folder: Path, ports: dict[str, tuple[int, int, int]], procs: list[subprocess.Popen]) -> bool:
    """Whether a node exited at start because a port was in use (it says so in its log)."""
    nodes = list(zip(NODES, procs, strict=True))
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline and not all(p.poll() is not None or port_answers(ports[n][0]) for n, p in nodes):
        time.sleep(0.05)
    return any(
        p.poll() is not None and "address already in use" in (folder / f"{n}.log").read_text(errors="replace")
        for n, p in nodes
    )


def _healthy(http_port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{http_port}/healthz", timeout=2) as answer:
            return answer.status == 200
    except OSError:
        return False


def test_the_compose_nats_nodes_form_a_jetstream_cluster(compose_nats):
    ports = compose_nats
    urls = ",".join(f"nats://127.0.0.1:{client}" for client, _, _ in ports.values())
    settings = Settings(nats_url=urls, nats_user="admin", nats_password=PASSWORD)

    async def replicated() -> list[int]:
        nc = await connect(settings, name="compose-test")
        try:
            js = nc.jetstream()
            # The meta leader is elected a moment after the routes connect.
            for _ in range(100):
                try:
                    await ensure_streams(js, replicas=3)
                    break
                except Exception:  # noqa: BLE001 - no JetStream leader yet
                    await asyncio.sleep(0.2)
            return [(await js.stream_info(name)).config.num_replicas for name in STREAMS]
        finally:
            await nc.close()

    assert asyncio.run(replicated()) == [3] * len(STREAMS)
    # What compose's health check asks each node.
    for _, http, _ in ports.values():
        wait_until(lambda h=http: _healthy(h), what="/healthz to answer 200", timeout=30)


def test_the_compose_nats_config_refuses_a_missing_password():
    folder = server_dir()
    try:
        conf = folder / "node.conf"
        conf.write_text(NODE_CONFIG)
        env = {k: v for k, v in os.environ.items() if k != "VSMESH_NATS_PASSWORD"} | {"NATS_NAME": "n1"}
        checked = subprocess.run(
            [str(nats_server_binary()), "--config", str(conf), "-t"], env=env, capture_output=True, text=True
        )
        assert checked.returncode != 0
        assert "VSMESH_NATS_PASSWORD" in checked.stdout + checked.stderr
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _mesh_services() -> dict[str, dict]:
    return {name: s for name, s in COMPOSE["services"].items() if s.get("image") == "vsmesh:local"}


def test_every_mesh_service_uses_real_settings_and_cli_flags():
    from vsmesh.cli.app import app

    services = _mesh_services()
    assert {"mesh-ops", "mesh-dev", "mesh-fin"} <= set(services)
    fields = set(Settings.model_fields)
    for name, service in services.items():
        env = service["environment"]
        unknown = [k for k in env if k.startswith(ENV_PREFIX) and k[len(ENV_PREFIX) :].lower() not in fields]
        assert not unknown, f"{name}: {unknown} are not settings"
        # Every value is one the settings accept (the compose-time placeholders filled in).
        filled = {k: re.sub(r"\$\{[^}]+\}", "secret", str(v)) for k, v in env.items()}
        Settings.from_env(filled)
        # The command parses: unknown flags or hubs fail here, not in a container at 3 a.m.
        parsed = CliRunner().invoke(app, [*service["command"], "--help"])
        assert parsed.exit_code == 0, f"{name}: {service['command']}: {parsed.output}"


def test_mesh_services_wait_for_healthy_servers_they_name():
    services = COMPOSE["services"]
    for name, service in _mesh_services().items():
        depends = service["depends_on"]
        assert set(depends) == {*NODES, "postgres"}, name
        for server, condition in depends.items():
            assert condition == {"condition": "service_healthy"}, f"{name} -> {server}"
            assert "healthcheck" in services[server], f"{server} has no health check"
        hosts = re.findall(r"nats://([\w-]+):4222", service["environment"]["VSMESH_NATS_URL"])
        assert hosts == list(NODES), name
        assert "@postgres:5432/" in service["environment"]["VSMESH_DATABASE_URL"], name


def test_the_image_installs_every_package_of_the_project():
    import tomllib

    setup = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    mapped = setup["package-dir"]
    # A folder of modules missing from `packages` works in the editable dev install and breaks `pip install .`.
    packaged = set(mapped.values())
    folders = {p.parent.relative_to(ROOT).as_posix() for root in packaged for p in (ROOT / root).rglob("*.py")}
    assert folders <= packaged, f"not packaged: {sorted(folders - packaged)}"
    assert set(setup["packages"]) == set(mapped)
    copied = set(re.findall(r"^COPY (\S+) \1$", (ROOT / "Dockerfile").read_text(), flags=re.MULTILINE))
    tops = {path.split("/")[0] for path in mapped.values()}
    assert tops <= copied, f"the Dockerfile does not copy {sorted(tops - copied)}"
