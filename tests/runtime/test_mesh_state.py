"""Which `vsmesh up` a data dir's mesh.json names: a pid alone is not proof, pids are reused."""

from __future__ import annotations

import os

from vsmesh.runtime.mesh_state import MeshState, running, save_state, started_at, supervisor_alive


def test_a_pid_reused_by_another_process_is_not_the_mesh(cli_in, tmp_path):
    # This test's process stands in for whatever process got the pid of a `vsmesh up` killed long ago.
    here = os.getpid()
    reused = MeshState(supervisor_pid=here, supervisor_started=started_at(here) - 3600, ready=True)
    assert not supervisor_alive(reused) and not running(reused)
    assert running(MeshState(supervisor_pid=here, supervisor_started=started_at(here), ready=True))

    # `vsmesh down` on such a data dir signals nobody: it sent SIGTERM to whatever process had the pid.
    save_state(tmp_path, reused)
    done = cli_in({"VSMESH_DATA_DIR": str(tmp_path)}, tmp_path, "down")
    assert done.exit_code == 0 and "no mesh running" in done.output, done.output
