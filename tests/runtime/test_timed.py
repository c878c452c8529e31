"""Timed contract calls (`runtime/timed.py`): what `vsmesh up` runs for facts only time makes true."""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid

from vsmesh.bus.connection import connect
from vsmesh.bus.contract_client import ask
from vsmesh.runtime.timed import start_timed


async def test_the_timer_publishes_an_expired_exception_without_anyone_asking(settings, running_mesh):
    nc = await connect(settings)
    stop = asyncio.Event()
    name = f"timed-{uuid.uuid4().hex[:6]}"
    tasks: list[asyncio.Task] = []
    try:
        # An exception that ended yesterday; nothing else happens on the log.
        yesterday = (dt.datetime.now(dt.UTC).date() - dt.timedelta(days=1)).isoformat()
        granted = await ask(nc, "sec-hub", "grant_exception",
                            {"exception_id": name, "owner": "ops", "reason": "r", "expires_on": yesterday,
                             "rule": "CVE-0000-0001", "backdate": True})  # fmt: skip
        await ask(nc, "sec-hub", "get_exceptions", {"wait_for_seq": {granted["stream"]: granted["seq"]}})
        # The timer's first tick runs at once; its alert arrives through the coupling.
        tasks = start_timed(nc, ["sec-hub"], stop)
        assert [t.get_name() for t in tasks] == ["timed:sec-hub:check_expiries"]
        for _ in range(200):
            alerts = (await ask(nc, "sec-hub", "get_alerts", {"entity": f"exception/{name}"}))["alerts"]
            if alerts:
                break
            await asyncio.sleep(0.1)
        assert len(alerts) == 1 and name in alerts[0]["title"]
    finally:
        stop.set()
        await asyncio.gather(*tasks)
        await nc.close()
