"""Timed jobs (`runtime/jobs.py`): what hubs declare and `vsmesh up` runs for facts only time makes true — here
the session's own `vsmesh up`, with nobody else asking."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import uuid
from pathlib import Path

from vsmesh.bus.connection import connect
from vsmesh.bus.contract_client import ask


def published_by_the_mesh(log: Path) -> list[dict]:
    """What sec-hub's check-expiries job of `vsmesh up` logged it published (its log: JSON lines)."""
    found = []
    for raw in log.read_text(errors="replace").splitlines():
        try:
            line = json.loads(raw)
        except ValueError:
            continue
        if line.get("event") == "timed operation published" and line.get("hub") == "sec-hub":
            found.append(line["published"])
    return found


async def test_vsmesh_up_publishes_an_expired_exception_without_anyone_asking(settings, running_mesh, session_dir):
    nc = await connect(settings)
    name = f"timed-{uuid.uuid4().hex[:6]}"
    try:
        # An exception that ended yesterday; nobody runs `vsmesh sec check-expiry`.
        yesterday = (dt.datetime.now(dt.UTC).date() - dt.timedelta(days=1)).isoformat()
        await ask(nc, "sec-hub", "grant_exception",
                  {"exception_id": name, "owner": "ops", "reason": "r", "expires_on": yesterday,
                   "rule": "CVE-0000-0001", "backdate": True})  # fmt: skip
        # The mesh's job publishes its expiry (woken by sec-hub applying the grant); a coupling alerts on it.
        alerts: list = []
        for _ in range(300):
            alerts = (await ask(nc, "sec-hub", "get_alerts", {"entity": f"exception/{name}"}))["alerts"]
            if alerts:
                break
            await asyncio.sleep(0.1)
        assert len(alerts) == 1 and name in alerts[0]["title"], alerts
        # It was the job of `vsmesh up` that published it: its log says so, naming the exception.
        assert any(name in p["exceptions_expired"] for p in published_by_the_mesh(session_dir / "up.log"))
    finally:
        await nc.close()
