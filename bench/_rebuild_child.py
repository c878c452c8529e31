"""Child process of bench/rebuild.py: rebuild one hub's ops projection and report its rate and peak RSS.

Run apart from the publisher so that only the rebuild's own memory counts. Reads the servers from the
VSMESH_* environment; prints one JSON line: events, batches (written by the replay), seconds, rate, phases
(seconds of prepare, replay, finish: RebuildResult.phases), cpu_us_per_event (this process's CPU during the
rebuild per event), peak_rss_mb (VmHWM, see peak_rss_mb).

    python bench/_rebuild_child.py --hub bench-abc123 [--batch-size N]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import json
import os
import resource
import sys
import time
from pathlib import Path

from vsmesh.bus.connection import connect
from vsmesh.hubs.ops.projector import projection as ops_projection
from vsmesh.logs import configure_logging
from vsmesh.projectors.engine.database import create_engine
from vsmesh.projectors.engine.pipeline import replay
from vsmesh.projectors.rebuild.build import DEFAULT_BATCH_SIZE, rebuild
from vsmesh.settings import Settings


def peak_rss_mb() -> float:
    """This process's own peak RSS.

    On Linux, VmHWM of /proc/self/status: ru_maxrss (getrusage RUSAGE_SELF) carries over the parent's peak
    across fork + exec, so a child of a big publisher would report the publisher's memory as a floor.
    """
    with contextlib.suppress(OSError):
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return ru_maxrss_mb()


def ru_maxrss_mb() -> float:
    kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux, bytes on macOS
    return kb / (1024 * 1024 if sys.platform == "darwin" else 1024)


def cpu_s() -> float:
    """This process's CPU time (user + system): less swayed than wall time by others sharing the machine."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def main(hub: str, batch_size: int) -> None:
    settings = Settings.from_env(os.environ, log_format="json", log_level="warning")
    configure_logging(settings)
    before = peak_rss_mb()
    nc = await connect(settings, name="bench-rebuild")
    js = nc.jetstream()
    # The ops-hub projection (handlers, tables) under the bench's own hub, on the stream the bench filled.
    projection = dataclasses.replace(ops_projection(), hub=hub, streams={"OPERATIONAL": f"operational.{hub}.>"})
    engine = create_engine(settings)
    calls = 0

    def progress(done: int, total: int) -> None:
        nonlocal calls
        calls += 1  # once at the start, once per written batch, once at the end

    replay_s = 0.0

    async def timed_replay(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202 - replay's own signature
        nonlocal replay_s
        started = time.perf_counter()
        try:
            return await replay(*args, **kwargs)
        finally:
            replay_s += time.perf_counter() - started

    cpu = cpu_s()
    result = await rebuild(js, engine, projection, batch_size=batch_size, progress=progress, replay_with=timed_replay)
    cpu = cpu_s() - cpu
    await engine.dispose()
    await nc.close()
    out = {
        "events": result.events,
        "batches": calls - 2,
        "seconds": round(result.seconds, 3),
        "replay_seconds": round(replay_s, 3),  # the rest: preparing the schema, catching up, ANALYZE, the swap
        "phases": {name: round(s, 3) for name, s in result.phases.items()},  # prepare, replay, finish
        "rate": round(result.rate),
        "cpu_us_per_event": round(cpu / max(result.events, 1) * 1e6, 2),
        "peak_rss_mb": round(peak_rss_mb(), 1),
        "rss_at_start_mb": round(before, 1),
        "ru_maxrss_mb": round(ru_maxrss_mb(), 1),
    }
    print(json.dumps(out), flush=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--hub", required=True)
    parser.add_argument("--batch-size", type=int, default=DEFAULT_BATCH_SIZE)
    parser.add_argument("--profile", help="write a cProfile of the rebuild to this file")
    args = parser.parse_args()
    if args.profile:
        import cProfile

        cProfile.run("asyncio.run(main(args.hub, args.batch_size))", args.profile)
    else:
        asyncio.run(main(args.hub, args.batch_size))
