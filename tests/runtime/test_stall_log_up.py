"""`vsmesh up` with VSMESH_STALL_LOG: the record bench/latency.py reads of what held its loop up."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from tests.conftest import VSMESH, wait_until
from vsmesh.runtime.mesh_state import load_state
from vsmesh.runtime.stalls import read_records
from vsmesh.settings import Settings


def test_vsmesh_up_records_the_heap_it_froze_and_the_collection_before(
    mesh: Settings, fresh_database: str, tmp_path: Path
) -> None:
    data_dir, record = tmp_path / "up", tmp_path / "stalls.jsonl"
    env = {
        **os.environ,
        "VSMESH_NATS_URL": mesh.nats_url or "",
        "VSMESH_NATS_USER": mesh.nats_user or "",
        "VSMESH_NATS_PASSWORD": mesh.nats_password or "",
        "VSMESH_DATABASE_URL": fresh_database,
        "VSMESH_DATA_DIR": str(data_dir),
        "VSMESH_LOG_FORMAT": "json",
        "VSMESH_STALL_LOG": str(record),
    }
    log = tmp_path / "up.log"
    with log.open("wb") as out:
        proc = subprocess.Popen([*VSMESH, "up", "--hub", "ops-hub", "--no-demo"], env=env, stdout=out,
                                stderr=subprocess.STDOUT)  # fmt: skip
    try:
        wait_until(lambda: load_state(data_dir).ready, timeout=180, what="vsmesh up ready", proc=proc, log=log)
        # Once ready it has said what it froze; the record is written within a fraction of a second
        frozen = wait_until(
            lambda: [r for r in read_records(record) if r["kind"] == "frozen"], what="the frozen heap recorded"
        )
    finally:
        proc.terminate()
        proc.wait(60)
    # Its whole started heap is out of the collector's walks: tens of thousands of objects at least
    assert frozen[0]["objects"] > 50_000
    # … after the full collection that cleared what start-up left behind, recorded as a pause of generation 2
    assert any(r["kind"] == "gc" and r["generation"] == 2 for r in read_records(record))
