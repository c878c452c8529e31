"""`vsmesh cluster up|down` keeps a cluster's stores: `cluster up` after `cluster down` resumes the same cluster
(the 3-node path runs in every cluster test through their fixture; one node is enough here)."""

from __future__ import annotations

import asyncio
import shutil

import nats

from tests.cluster.conftest import cluster_cli
from tests.conftest import server_dir
from vsmesh.cli.cluster_cmd import CLUSTER_DIR
from vsmesh.runtime.cluster import load_cluster
from vsmesh.runtime.mesh_state import pid_alive
from vsmesh.runtime.nats_server import port_answers


async def stream_messages(state, make: bool) -> int:
    nc = await nats.connect(state.urls, user=state.user, password=state.password)
    try:
        js = nc.jetstream()
        if make:
            await js.add_stream(name="KEPT", subjects=["kept.>"])
            await js.publish("kept.one", b"1")
        return (await js.stream_info("KEPT")).state.messages
    finally:
        await nc.close()


def test_cluster_down_then_up_resumes_the_same_cluster():
    root = server_dir()
    try:
        cluster_cli(root, "up", "--nodes", "1", "--detach")
        first = load_cluster(root / CLUSTER_DIR)
        assert asyncio.run(stream_messages(first, make=True)) == 1

        assert cluster_cli(root, "down").stdout.strip() == "stopped n1"
        [node] = first.nodes
        assert not pid_alive(node.pid) and not port_answers(node.port)
        assert cluster_cli(root, "down").stdout.strip() == f"no node of the cluster in {root / CLUSTER_DIR} was running"

        # Up again: the same ports and password, and the store kept what was written before.
        cluster_cli(root, "up", "--nodes", "1", "--detach")
        again = load_cluster(root / CLUSTER_DIR)
        assert (again.urls, again.password) == (first.urls, first.password)
        assert asyncio.run(stream_messages(again, make=False)) == 1
    finally:
        cluster_cli(root, "down")
        shutil.rmtree(root, ignore_errors=True)
