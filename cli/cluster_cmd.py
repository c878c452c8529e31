"""`vsmesh cluster up|down`: a local N-node NATS JetStream cluster (runtime/cluster.py)."""

from __future__ import annotations

import signal
import threading
from pathlib import Path

import typer

from vsmesh.cli.context import guarded, settings_from
from vsmesh.cli.options import DataDir

cluster_app = typer.Typer(help="A local NATS JetStream cluster (the docker-compose topology without Docker).")

CLUSTER_DIR = "cluster"  # under the data dir, beside the embedded mesh's own nats-server


def _dir(data_dir: Path | None) -> Path:
    return (settings_from(data_dir, discover=False).data_dir / CLUSTER_DIR).resolve()


@cluster_app.command("up")
@guarded
def cluster_up(
    nodes: int = typer.Option(3, "--nodes", "-n", min=1, help="nats-server processes; 3 for replicated streams"),
    data_dir: Path | None = DataDir,
    detach: bool = typer.Option(False, "--detach", "-d", help="leave the nodes running; stop with `cluster down`"),
) -> None:
    """Start NODES clustered nats-servers on loopback; print the client URLs and the env to reach them."""
    from vsmesh.runtime.cluster import start_cluster, stop_cluster

    folder = _dir(data_dir)
    state = start_cluster(folder, nodes=nodes)
    typer.echo(state.urls)
    typer.echo(
        f"# {nodes} nodes healthy, state in {folder}; point the mesh at them:\n"
        f"export VSMESH_NATS_URL='{state.urls}'\n"
        f"export VSMESH_NATS_USER='{state.user}'\n"
        f"export VSMESH_NATS_PASSWORD='{state.password}'",
        err=True,
    )
    if detach:
        return
    done = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: done.set())
    typer.echo("# Ctrl-C stops the cluster", err=True)
    done.wait()
    stop_cluster(folder)
    typer.echo("cluster stopped", err=True)


@cluster_app.command("down")
@guarded
def cluster_down(data_dir: Path | None = DataDir) -> None:
    """Stop the local cluster's nodes (their stores are kept: `cluster up` resumes them)."""
    from vsmesh.runtime.cluster import load_cluster, stop_cluster

    folder = _dir(data_dir)
    if load_cluster(folder) is None:
        typer.echo(f"no cluster in {folder}")
        return
    stopped = stop_cluster(folder)
    typer.echo(f"stopped {', '.join(stopped)}" if stopped else f"no node of the cluster in {folder} was running")
