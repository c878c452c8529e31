"""`python -m vsmesh.runtime.reactor_main`: run the couplings alone, against the servers the `VSMESH_*` variables name.

`vsmesh up` runs them with everything else; this entry runs reactors as a process of their own (e.g. on
another machine). `--extra module:function` adds couplings from elsewhere (the SIGKILL test uses it),
`--only NAME` (repeatable) runs just those.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import os
import signal

from vsmesh.bus.connection import connect
from vsmesh.hubs.coupling import active_couplings
from vsmesh.projectors.couplings.coupling import Coupling
from vsmesh.projectors.couplings.reactor import ensure_tables, start_reactors
from vsmesh.projectors.engine.database import create_engine
from vsmesh.settings import Settings


def _extra(spec: str) -> list[Coupling]:
    module, _, function = spec.partition(":")
    return list(getattr(importlib.import_module(module), function or "couplings")())


async def main(extra: list[str], only: list[str]) -> None:
    settings = Settings.from_env(os.environ)
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        asyncio.get_running_loop().add_signal_handler(sig, stop.set)
    couplings = active_couplings(settings, [c for spec in extra for c in _extra(spec)])
    if only:
        couplings = [c for c in couplings if c.name in only]
    nc = await connect(settings, name="vsmesh-reactors")
    engine = create_engine(settings)
    try:
        await ensure_tables(engine)
        tasks, _ = start_reactors(nc, engine, settings, couplings, stop)
        await stop.wait()
        await asyncio.gather(*tasks, return_exceptions=True)
    finally:
        await engine.dispose()
        await nc.drain()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--extra", action="append", default=[])
    parser.add_argument("--only", action="append", default=[])
    args = parser.parse_args()
    asyncio.run(main(args.extra, args.only))
