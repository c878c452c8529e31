"""`vsmesh up` runs the probe file VSMESH_PROBES names, as part of the mesh."""

from __future__ import annotations

import os
import subprocess
import uuid
from pathlib import Path

from tests.conftest import VSMESH, wait_until
from vsmesh.runtime.mesh_state import load_state


def test_up_runs_the_probes_of_VSMESH_PROBES(mesh_env, running_mesh, tcp_port, tmp_path: Path, cli):
    u = uuid.uuid4().hex[:8]
    probes = tmp_path / "probes.yaml"
    probes.write_text(
        f"probes:\n  - name: up-{u}\n    entity: access-path/up-{u}\n    kind: tcp\n    interval: 5s\n"
        f"    host: 127.0.0.1\n    port: {tcp_port}\n    conditions: ['[CONNECTED] == true']\n"
    )
    data_dir = tmp_path / "up"
    env = {**os.environ, **mesh_env, "VSMESH_DATA_DIR": str(data_dir), "VSMESH_PROBES": str(probes)}
    log = tmp_path / "up.log"
    with log.open("wb") as out:
        # A second process running ops-hub beside the session's: it answers and probes, the lease decides who folds.
        proc = subprocess.Popen([*VSMESH, "up", "--hub", "ops-hub", "--no-demo"], env=env, stdout=out, stderr=out)
    try:
        wait_until(lambda: load_state(data_dir).ready, what="vsmesh up to be ready", proc=proc, log=log)

        def evidence():
            shown = cli("probe", "list", str(probes), "--json")
            # Published as the service client `vsmesh up` registered at its issuer and whose token it verified.
            return (
                shown.exit_code == 0 and '"passed":true' in shown.stdout and '"actor":"vsmesh-probes"' in shown.stdout
            )

        wait_until(evidence, timeout=30, what="the probe's evidence on ops-hub", proc=proc, log=log)
    finally:
        proc.terminate()
        proc.wait(30)
    assert proc.returncode == 0


def test_up_refuses_a_bad_probe_file_at_start(mesh_env, tmp_path: Path):
    probes = tmp_path / "bad.yaml"
    probes.write_text("probes: []\n")
    env = {**os.environ, **mesh_env, "VSMESH_DATA_DIR": str(tmp_path / "up"), "VSMESH_PROBES": str(probes)}
    done = subprocess.run(
        [*VSMESH, "up", "--hub", "ops-hub", "--no-demo"], env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 1
    assert f"{probes}:1: probes: List should have at least 1 item" in done.stderr
