"""`python -m vsmesh.runtime.partition_main`: one partition of a hub's projector, as a process of its own.

`follow HUB --index K --count N`: project partition K of N live under the lease `projector.HUB.pK` until
SIGTERM (what `vsmesh up --partitions N` runs in-process; this runs a partition on another core or machine).
`--projection module:function` takes the projection from function(HUB) instead of the hub's own (tests).
Servers come from the `VSMESH_*` variables.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import os
import signal

from vsmesh.bus.connection import connect
from vsmesh.logs import configure_logging
from vsmesh.projectors.distribution.lease import lease_bucket, run_leased
from vsmesh.projectors.engine.batches import ensure_schema
from vsmesh.projectors.engine.database import create_engine
from vsmesh.projectors.engine.partitions import Partition
from vsmesh.projectors.engine.projection import Projection
from vsmesh.projectors.engine.stats import ProjectorStats
from vsmesh.projectors.runner import run_projection
from vsmesh.settings import Settings


async def _projection(hub: str, spec: str | None, engine) -> Projection:  # noqa: ANN001 - an AsyncEngine
    if spec:
        module, _, function = spec.partition(":")
        return getattr(importlib.import_module(module), function)(hub)
    from vsmesh.hubs.projections import projection_of

    return await projection_of(engine, hub)


async def main(args: argparse.Namespace) -> None:
    settings = Settings.from_env(os.environ)
    configure_logging(settings)
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        asyncio.get_running_loop().add_signal_handler(sig, stop.set)
    partition = Partition(args.index, args.count)
    nc = await connect(settings, name=f"vsmesh-{args.hub}-{partition.label}")
    engine = create_engine(settings)
    try:
        part = (await _projection(args.hub, args.projection, engine)).for_partition(partition)
        js = nc.jetstream()
        await ensure_schema(engine, part, part.schema)
        stats = ProjectorStats(part.hub, partition=partition.label)
        leases = await lease_bucket(js)
        await run_leased(
            leases, partition.lease(part.hub), lambda stop_work: run_projection(js, engine, part, settings,
                                                                                stop_work, stats), stop
        )  # fmt: skip
    finally:
        await engine.dispose()
        await nc.close()


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("mode", choices=["follow"])
    parser.add_argument("hub")
    parser.add_argument("--index", type=int, required=True)
    parser.add_argument("--count", type=int, required=True)
    parser.add_argument("--projection", help="module:function giving the projection of HUB (tests)")
    return parser.parse_args(argv)


if __name__ == "__main__":
    asyncio.run(main(parse()))
