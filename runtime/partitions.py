"""A partitioned rebuild's processes: one `partition_main replay` per partition, side by side on the cores."""

from __future__ import annotations

import asyncio
import os
import sys

import msgspec

from vsmesh.errors import VsmeshError
from vsmesh.projectors.distribution.partitioned import RunPartition
from vsmesh.projectors.engine.partitions import Partition
from vsmesh.projectors.engine.pipeline import Replayed
from vsmesh.runtime.partition_main import Replayed as Reported
from vsmesh.settings import Settings


def worker_env(settings: Settings) -> dict[str, str]:
    """The environment of a worker: ours, with the servers this process resolved (the embedded mesh's too)."""
    env = dict(os.environ)
    for name in ("nats_url", "nats_user", "nats_password", "database_url"):
        value = getattr(settings, name)
        if value:
            env[f"VSMESH_{name.upper()}"] = str(value)
    env.setdefault("VSMESH_LOG_LEVEL", "warning")
    return env


def process_runner(settings: Settings, hub: str, *, batch_size: int, projection: str | None = None) -> RunPartition:
    """Runs one partition's replay in a process of its own; a failed worker raises with its last words."""

    async def run(partition: Partition, schema: str) -> Replayed:
        args = ["replay", hub, "--index", str(partition.index), "--count", str(partition.count),
                "--schema", schema, "--batch-size", str(batch_size)]  # fmt: skip
        if projection:
            args += ["--projection", projection]
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "vsmesh.runtime.partition_main", *args, env=worker_env(settings),
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        try:
            out, err = await proc.communicate()
        except asyncio.CancelledError:
            proc.kill()  # the rebuild was stopped: its workers stop with it
            await proc.wait()
            raise
        if proc.returncode != 0:
            last = (err.decode(errors="replace").strip().splitlines() or ["(no output)"])[-1]
            raise VsmeshError(
                f"partition {partition.label} of {hub} failed ({proc.returncode}): {last}; run the rebuild again "
                "(it resumes) or with --partitions 1"
            )
        done = msgspec.json.decode(out.strip().splitlines()[-1], type=Reported)
        return Replayed({}, done.messages, done.applied, done.rejected)

    return run
