"""Contract calls under load: `get_domain_summary` of ops-hub and `list_hubs` of the registry, p50/p99/max,
while the mesh (a) starts on a new data dir with the demo, (b) rebuilds ops-hub from N events, (c) snapshots
ops-hub — beside the same calls on the idle mesh, measured in the same run (the floor).

Target: p99 <= 250 ms in all three phases and no call over 1 s (a call that gets no
answer within 2 s counts as 2 s). Each phase prints one JSON line; the last line is the summary.

    python bench/contract_under_load.py [--events 200000]
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from vsmesh.bus.connection import connect
from vsmesh.bus.contract_client import ask
from vsmesh.bus.publisher import Publisher
from vsmesh.errors import ContractError, VsmeshError
from vsmesh.runtime.mesh_state import load_state
from vsmesh.settings import Settings

sys.path.insert(0, str(Path(__file__).parent))
from rebuild import events  # noqa: E402 - the same event mix as bench/rebuild.py

VSMESH = [sys.executable, "-m", "vsmesh.cli.app"]
CALLS = {"ops-hub": "get_domain_summary", "registry": "list_hubs"}
TIMEOUT_S = 2.0
EVERY_S = 0.05  # one call per hub this often
TARGET_P99_MS, TARGET_MAX_MS = 250.0, 1000.0


def env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("VSMESH_")} | {"VSMESH_LOG_FORMAT": "json"}


def settings_of(data_dir: Path) -> Settings | None:
    state = load_state(data_dir)
    if not state.nats_url:
        return None
    return Settings(data_dir=data_dir, nats_url=state.nats_url, nats_user=state.nats_user,
                    nats_password=state.nats_password, database_url=state.database_url)  # fmt: skip


async def probe(settings: Settings, until: asyncio.Event) -> dict[str, list[float]]:
    """Call each hub every EVERY_S until `until`; the latency of every answered (or timed-out) call, in ms.

    A hub that does not answer yet because it is not started (no responders, at once) is not a call."""
    nc = await connect(settings, name="bench-contract")
    took: dict[str, list[float]] = {hub: [] for hub in CALLS}
    try:
        while not until.is_set():
            for hub, operation in CALLS.items():
                started = time.perf_counter()
                try:
                    await ask(nc, hub, operation, {}, timeout=TIMEOUT_S)
                except ContractError as e:
                    if e.code == "not_running":
                        continue
                    if e.code != "timeout":
                        raise
                took[hub].append((time.perf_counter() - started) * 1000)
            await asyncio.sleep(EVERY_S)
    finally:
        await nc.close()
    return took


def stats(values: list[float]) -> dict[str, float]:
    if not values:
        return {"n": 0}
    ordered = sorted(values)
    pick = lambda q: ordered[min(len(ordered) - 1, int(q * len(ordered)))]  # noqa: E731
    return {"n": len(ordered), "p50": round(pick(0.5), 1), "p99": round(pick(0.99), 1), "max": round(ordered[-1], 1)}


async def during(settings: Settings, work) -> dict[str, dict[str, float]]:
    """Probe while `work()` (a coroutine function) runs."""
    until = asyncio.Event()
    probing = asyncio.create_task(probe(settings, until))
    try:
        await work()
    finally:
        until.set()
    return {hub: stats(values) for hub, values in (await probing).items()}


async def run_cli(*args: str) -> None:
    proc = await asyncio.create_subprocess_exec(*VSMESH, *args, env=env(), stdout=subprocess.DEVNULL,
                                                stderr=subprocess.PIPE)  # fmt: skip
    _, err = await proc.communicate()
    if proc.returncode != 0:
        raise VsmeshError(f"vsmesh {' '.join(args)} failed: {err.decode()[-500:]}")


async def start_phase(data_dir: Path) -> tuple[asyncio.subprocess.Process, dict]:
    """`vsmesh up` on a new data dir (the demo on): probe from the first moment NATS is there until ready."""
    proc = await asyncio.create_subprocess_exec(*VSMESH, "up", "--data-dir", str(data_dir), env=env(),
                                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    while (settings := settings_of(data_dir)) is None:  # noqa: ASYNC110 - another process writes mesh.json
        await asyncio.sleep(0.01)

    async def until_ready() -> None:
        while not load_state(data_dir).ready:
            if proc.returncode is not None:
                raise VsmeshError(f"vsmesh up exited ({proc.returncode}); see {data_dir}/mesh.log")
            await asyncio.sleep(0.02)
        await asyncio.sleep(2.0)  # the first seconds after ready, when a person would call it

    while True:  # connect as soon as the server takes logins
        try:
            return proc, await during(settings, until_ready)
        except VsmeshError as e:
            if "cannot reach NATS" not in str(e) and "refused the login" not in str(e):
                raise
            await asyncio.sleep(0.05)


async def publish(settings: Settings, n: int) -> None:
    nc = await connect(settings, name="bench-contract-publisher")
    try:
        publisher = Publisher(nc.jetstream(), settings)
        generated = events(publisher, "ops-hub", n)
        while chunk := list(itertools.islice(generated, 50_000)):
            await publisher.publish_many(chunk)
    finally:
        await nc.close()


async def wait_applied(settings: Settings) -> None:
    """Until the live ops-hub projector has applied everything on OPERATIONAL so far (lag 0)."""
    import asyncpg

    nc = await connect(settings, name="bench-contract-head")
    conn = await asyncpg.connect(settings.database_url)
    query = "SELECT coalesce(max(position), 0) FROM ops_hub.vsmesh_positions WHERE stream = 'OPERATIONAL'"
    try:
        head = (await nc.jetstream().stream_info("OPERATIONAL")).state.last_seq
        while await conn.fetchval(query) < head:  # noqa: ASYNC110 - another process moves the position
            await asyncio.sleep(0.2)
    finally:
        await conn.close()
        await nc.close()


async def main(n: int) -> int:
    root = Path(tempfile.mkdtemp(prefix="vsmesh-bench-contract-"))
    data_dir = root / "mesh"
    proc = None
    try:
        proc, started = await start_phase(data_dir)
        settings = settings_of(data_dir)
        assert settings is not None
        phases = {"start with demo": started}
        await publish(settings, n)
        await wait_applied(settings)
        # The floor: the same calls on the idle mesh holding the same data as the rebuild and snapshot phases.
        phases["idle (floor)"] = await during(settings, lambda: asyncio.sleep(10))
        phases[f"rebuild ops-hub ({n} events)"] = await during(
            settings, lambda: run_cli("rebuild", "ops-hub", "--data-dir", str(data_dir))
        )
        phases["snapshot ops-hub"] = await during(
            settings, lambda: run_cli("snapshot", "ops-hub", "--data-dir", str(data_dir))
        )
        for phase, result in phases.items():
            print(json.dumps({"phase": phase, **result}), flush=True)
        loaded = {k: v for k, v in phases.items() if k != "idle (floor)"}
        worst_p99 = max(r[h].get("p99", 0) for r in loaded.values() for h in CALLS)
        worst_max = max(r[h].get("max", 0) for r in loaded.values() for h in CALLS)
        floor_p99 = max(phases["idle (floor)"][h].get("p99", 0) for h in CALLS)
        ok = worst_p99 <= TARGET_P99_MS and worst_max <= TARGET_MAX_MS
        print(json.dumps({"metric": "contract_p99_ms_under_load", "value": worst_p99, "max": worst_max,
                          "floor": floor_p99, "ratio": round(worst_p99 / floor_p99, 1) if floor_p99 else None,
                          "target_p99": TARGET_P99_MS, "target_max": TARGET_MAX_MS, "met": ok}))  # fmt: skip
        return 0 if ok else 1
    finally:
        if proc is not None:
            proc.terminate()
            await asyncio.wait_for(proc.wait(), 60)
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", "-n", type=int, default=200_000, help="ops-hub events the rebuild folds")
    sys.exit(asyncio.run(main(parser.parse_args().events)))
