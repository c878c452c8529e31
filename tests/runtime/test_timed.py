"""Timed jobs (`runtime/jobs.py`): what hubs declare and `vsmesh up` runs for facts only time makes true."""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid

from nats.js.api import KeyValueConfig, StorageType

from vsmesh.bus.connection import connect
from vsmesh.bus.contract_client import ask
from vsmesh.hubs import hub
from vsmesh.runtime.jobs import start_jobs


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
        # The job's first run comes at once; its alert arrives through the coupling. Its lease is taken in a
        # bucket of the test's own: the session mesh holds the job's lease in `vsmesh-leases`.
        config = KeyValueConfig(bucket=f"leases-{name}", history=1, ttl=4.0, storage=StorageType.MEMORY)
        leases = await nc.jetstream().create_key_value(config=config)
        tasks = start_jobs(nc, leases, settings, [hub("sec-hub")], stop)
        assert [t.get_name() for t in tasks] == ["job:sec-hub:check-expiries"]
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
