"""A real local 3-node NATS JetStream cluster (runtime/cluster.py) and a database of its own per test."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import VSMESH, server_dir, wait_until
from vsmesh.cli.cluster_cmd import CLUSTER_DIR
from vsmesh.runtime.cluster import ClusterState, load_cluster, stop_cluster
from vsmesh.runtime.mesh_state import load_state


class LocalCluster:
    def __init__(self, folder: Path, state: ClusterState) -> None:
        self.folder = folder
        self.state = state


def cluster_cli(data_dir: Path, *args: str):
    """`vsmesh cluster …` as a person runs it (in-process): the cluster tests start their nodes through it."""
    from typer.testing import CliRunner

    from vsmesh.cli.app import app

    result = CliRunner().invoke(app, ["cluster", *args, "--data-dir", str(data_dir)], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result


@pytest.fixture
def cluster() -> Iterator[LocalCluster]:
    root = server_dir()
    folder = root / CLUSTER_DIR  # where `vsmesh cluster up --data-dir ROOT` keeps its nodes
    started = cluster_cli(root, "up", "--nodes", "3", "--detach")
    state = load_cluster(folder)
    assert state is not None and started.stdout.strip() == state.urls
    assert f"export VSMESH_NATS_URL='{state.urls}'" in started.stderr
    yield LocalCluster(folder, state)
    stopped = cluster_cli(root, "down")
    assert stopped.stdout.strip() in ("stopped n1, n2, n3", f"no node of the cluster in {folder} was running")
    stop_cluster(folder)  # a node a test restarted by itself, should `down` have missed it
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def cluster_db(fresh_database: str) -> str:
    """A fresh database in the session PostgreSQL: the hubs' positions here count the cluster's streams."""
    return fresh_database


def cluster_env(cluster: LocalCluster, database: str, data_dir: Path) -> dict[str, str]:
    return {
        "VSMESH_NATS_URL": cluster.state.urls,
        "VSMESH_NATS_USER": cluster.state.user,
        "VSMESH_NATS_PASSWORD": cluster.state.password,
        "VSMESH_DATABASE_URL": database,
        "VSMESH_DATA_DIR": str(data_dir),
        "VSMESH_LOG_FORMAT": "json",
    }


def start_up(env: dict[str, str], hub: str, log: Path) -> subprocess.Popen:
    """`vsmesh up --hub HUB` against the cluster, its log (JSON lines) in `log`; waits until it is ready."""
    data_dir = Path(env["VSMESH_DATA_DIR"])
    data_dir.mkdir(parents=True, exist_ok=True)
    with open(log, "ab") as out:
        proc = subprocess.Popen(
            [*VSMESH, "up", "--hub", hub, "--no-demo"],
            env={**os.environ, **env},
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    wait_until(lambda: load_state(data_dir).ready, what=f"vsmesh up --hub {hub} ready", proc=proc)
    return proc
