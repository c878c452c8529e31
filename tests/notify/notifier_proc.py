"""The notifier alone in a process of its own, for the crash test (forked) or by hand (`python -m
tests.notify.notifier_proc`, configured by `VSMESH_*`); stops on SIGTERM (the test SIGKILLs it instead)."""

from __future__ import annotations

import asyncio
import os
import signal

from vsmesh.bus.connection import connect
from vsmesh.notify.service import start_notifier
from vsmesh.projectors.engine.database import create_engine
from vsmesh.settings import Settings


async def run_notifier(settings: Settings, environ) -> None:
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    nc = await connect(settings)
    engine = create_engine(settings)
    tasks, _ = await start_notifier(nc, engine, settings, environ, ("vsmesh-notify", "service"), stop)
    await stop.wait()
    await asyncio.wait(tasks, timeout=5)
    await engine.dispose()
    await nc.close()


if __name__ == "__main__":
    asyncio.run(run_notifier(Settings.from_env(os.environ), os.environ))
