"""Start-up converges: a fresh mesh, started and stopped again and again, brings every hub up every time.

Not part of `make test` (30 starts take minutes): `make soak` runs it (`VSMESH_SOAK_RUNS`, default 30).
Each run: a new data dir, `vsmesh up --detach` (the demo bootstraps the shipped manifest hubs); once it says
it is up, every hub, coded and manifest, answers `get_domain_summary` (the registry: `list_hubs`) within 5 s,
the log holds no refresh failure, and a minute of running creates no projector consumer twice.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

from tests.conftest import VSMESH
from vsmesh.hubs import HUBS
from vsmesh.hubs.registry.manifest_model import load_manifest, shipped_dir
from vsmesh.runtime.mesh_state import load_state
from vsmesh.settings import Settings

RUNS = int(os.environ.get("VSMESH_SOAK_RUNS", "30"))
pytestmark = [pytest.mark.soak, pytest.mark.timeout(120 + 60 * RUNS)]
ANSWER_WITHIN_S = 5.0
MANIFEST_HUBS = sorted({load_manifest(p).slug for p in shipped_dir().glob("*.yaml")} - set(HUBS))


def _env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("VSMESH_")}


async def _answering(settings: Settings, hubs: list[str], deadline: float) -> dict[str, float | str]:
    """Per hub: seconds until it answered, or the last error once the deadline passed."""
    from vsmesh.bus.connection import connect
    from vsmesh.bus.contract_client import ask

    nc = await connect(settings, name="soak")
    started = time.monotonic()
    result: dict[str, float | str] = {}
    try:
        waiting = set(hubs)
        last: dict[str, str] = {}
        while waiting and time.monotonic() < deadline:
            for hub in sorted(waiting):
                try:
                    await ask(nc, hub, "list_hubs" if hub == "registry" else "get_domain_summary", {}, timeout=0.5)
                    result[hub] = round(time.monotonic() - started, 2)
                    waiting.discard(hub)
                except Exception as e:  # noqa: BLE001 - any failure is "not yet"; the last one is reported
                    last[hub] = str(e)
            await asyncio.sleep(0.05)
        result.update({hub: f"no answer: {last.get(hub)}" for hub in waiting})
    finally:
        await nc.close()
    return result


async def _consumers(settings: Settings) -> int:
    from vsmesh.bus.connection import connect
    from vsmesh.bus.streams import HORIZON_STREAMS

    nc = await connect(settings, name="soak")
    try:
        js = nc.jetstream()
        return sum([(await js.stream_info(s)).state.consumer_count for s in HORIZON_STREAMS])
    finally:
        await nc.close()


def test_fresh_mesh_brings_every_hub_up_every_time():
    failures = []
    timings = []
    for run in range(RUNS):
        root = Path(tempfile.mkdtemp(prefix="vsmesh-soak-"))
        data_dir = root / "mesh"
        try:
            up = subprocess.run(
                [*VSMESH, "up", "--detach", "--data-dir", str(data_dir)],
                env=_env(),
                capture_output=True,
                text=True,
                timeout=120,
            )
            ready_at = time.monotonic()
            assert up.returncode == 0, up.stderr
            state = load_state(data_dir)
            settings = Settings(
                data_dir=data_dir,
                nats_url=state.nats_url,
                nats_user=state.nats_user,
                nats_password=state.nats_password,
            )
            answers = asyncio.run(_answering(settings, [*HUBS, "registry", *MANIFEST_HUBS], ready_at + ANSWER_WITHIN_S))
            late = {h: a for h, a in answers.items() if isinstance(a, str)}
            log = (data_dir / "mesh.log").read_text(errors="replace")
            if run == 0 or late:
                first = asyncio.run(_consumers(settings))
                time.sleep(10 if run else 60)
                second = asyncio.run(_consumers(settings))
                if second != first:
                    failures.append(f"run {run}: consumers {first} -> {second} while idle")
            if late or "registry refresh failed" in log:
                kept = Path(tempfile.gettempdir()) / f"vsmesh-soak-run{run}.log"
                shutil.copy(data_dir / "mesh.log", kept)  # the data dir goes; what happened stays
                failures.append(f"run {run}: {late or 'registry refresh failed'} (log: {kept})")
            timings.append(max((a for a in answers.values() if not isinstance(a, str)), default=0.0))
            print(f"run {run}: {answers}", flush=True)
        finally:
            subprocess.run([*VSMESH, "down", "--data-dir", str(data_dir)], env=_env(), capture_output=True, timeout=60)
            shutil.rmtree(root, ignore_errors=True)
    print(f"soak: {RUNS} runs, slowest hub answered after {sorted(timings)[-1] if timings else '-'} s; {failures}")
    assert not failures, failures
