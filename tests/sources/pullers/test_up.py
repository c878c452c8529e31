"""`vsmesh up` runs the pullers of VSMESH_PULLERS as timed jobs: an OpenCost answering an error page is one log
line per run with nothing stored, and the job keeps running — once OpenCost answers, fin-hub has the costs."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
from pathlib import Path

from tests.conftest import VSMESH, wait_until
from tests.sources.pullers.conftest import Answer
from vsmesh.bus.connection import connect
from vsmesh.bus.contract_client import ask
from vsmesh.runtime.mesh_state import load_state
from vsmesh.sources.pullers.plan import event_id

ROUTE = "/allocation/compute"


def _lines(log: Path, **fields: str) -> list[dict]:
    found = []
    for raw in log.read_text(errors="replace").splitlines():
        try:
            line = json.loads(raw)
        except ValueError:
            continue
        if all(line.get(k) == v for k, v in fields.items()):
            found.append(line)
    return found


def figures(settings, ids: list[str]) -> dict:
    async def ask_fin() -> dict:
        nc = await connect(settings)
        try:
            return (await ask(nc, "fin-hub", "get_cost_figures", {"ids": ids}))["figures"]
        finally:
            await nc.close()

    return asyncio.run(ask_fin())


def test_up_pulls_on_schedule_and_an_error_page_does_not_stop_it(mesh_env, settings, running_mesh, recorded, tmp_path):
    u, name = recorded.u, f"up-opencost-{recorded.u}"
    recorded.token = None
    recorded.routes[ROUTE] = Answer("opencost-502.html", status=502, content_type="text/html")
    pullers = tmp_path / "pullers.yaml"
    pullers.write_text(f"pullers:\n  - name: {name}\n    kind: opencost\n    every: 1s\n    url: {recorded.url}\n")
    data_dir, log = tmp_path / "up", tmp_path / "up.log"
    env = {**os.environ, **mesh_env, "VSMESH_DATA_DIR": str(data_dir), "VSMESH_PULLERS": str(pullers)}
    with log.open("wb") as out:
        # A second process beside the session's mesh: the pullers' jobs are its own (no other process has the file).
        proc = subprocess.Popen([*VSMESH, "up", "--hub", "fin-hub", "--no-demo"], env=env, stdout=out, stderr=out)
    try:
        wait_until(lambda: load_state(data_dir).ready, timeout=120, what="vsmesh up", proc=proc, log=log)
        failed = lambda: _lines(log, event="job failed; retrying next tick", job=name)  # noqa: E731
        wait_until(lambda: len(failed()) >= 2, timeout=30, what="two failed pulls", proc=proc, log=log)
        # Each failed run is one line saying where and what came back; nothing was stored.
        assert all(line["hub"] == "pullers" and "answered HTTP 502: 502 Bad Gateway" in line["error"]
                   for line in failed())  # fmt: skip
        asked = sum(1 for r in list(recorded.requests) if r.startswith(ROUTE))
        assert abs(asked - len(failed())) <= 1  # one line per run (the latest may be in flight)
        ids = [event_id("opencost", name, f"{s}-{u}", "2026-12-05") for s in ("gitea", "monitoring")]
        assert figures(settings, ids) == {}
        # OpenCost answers again: the same job, still running, stores the costs.
        recorded.routes[ROUTE] = Answer("opencost-allocation.json")
        wait_until(lambda: len(figures(settings, ids)) == 2, timeout=30, what="costs on fin", proc=proc, log=log)
        assert _lines(log, event="pulled", puller=name)
    finally:
        proc.terminate()
        proc.wait(30)
    assert proc.returncode == 0
