"""`tcp` probes: can a connection be opened (an SSH port, a database port), and how fast."""

from __future__ import annotations

import asyncio
import contextlib
import time

from vsmesh.probes.model import TcpProbe
from vsmesh.probes.observation import Observation, failed


async def observe(probe: TcpProbe) -> Observation:
    started = time.perf_counter()
    try:
        _, writer = await asyncio.open_connection(probe.host, probe.port)
    except OSError as e:
        return failed(f"cannot connect to {probe.host}:{probe.port}: {e.strerror or e}")
    elapsed_ms = (time.perf_counter() - started) * 1000
    writer.close()
    with contextlib.suppress(OSError):
        await writer.wait_closed()
    return Observation({"CONNECTED": True, "RESPONSE_TIME": round(elapsed_ms, 2)})
