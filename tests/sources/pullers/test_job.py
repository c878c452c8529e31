"""The pullers of VSMESH_PULLERS as timed jobs (runtime/jobs.py's package jobs, run as `vsmesh up` runs them, under
their lease): an OpenCost answering an error page is one log line per run with nothing stored, and the job keeps
running — once OpenCost answers, fin-hub has the costs."""

from __future__ import annotations

import asyncio

import pytest
from structlog.testing import capture_logs

from tests.sources.pullers.conftest import Answer
from vsmesh.bus.connection import connect
from vsmesh.bus.contract_client import ask
from vsmesh.projectors.distribution.lease import lease_bucket
from vsmesh.runtime.jobs import package_jobs, start_jobs
from vsmesh.sources.pullers.plan import event_id

ROUTE = "/allocation/compute"


async def _until(check, what: str, timeout: float = 30.0):
    for _ in range(int(timeout / 0.05)):
        if found := await check():
            return found
        await asyncio.sleep(0.05)
    pytest.fail(f"timed out waiting for {what}")


async def test_a_puller_job_runs_through_an_error_page_and_keeps_running(settings, running_mesh, recorded, tmp_path):
    u, name = recorded.u, f"job-opencost-{recorded.u}"
    recorded.token = None
    recorded.routes[ROUTE] = Answer("opencost-502.html", status=502, content_type="text/html")
    pullers = tmp_path / "pullers.yaml"
    pullers.write_text(f"pullers:\n  - name: {name}\n    kind: opencost\n    every: 200ms\n    url: {recorded.url}\n")
    configured = settings.model_copy(update={"pullers": pullers})
    ids = [event_id("opencost", name, f"{s}-{u}", "2026-12-05") for s in ("gitea", "monitoring")]
    nc = await connect(settings)
    stop, jobs = asyncio.Event(), []
    try:
        leases = await lease_bucket(nc.jetstream())
        with capture_logs() as logs:
            jobs += start_jobs(nc, leases, configured, package_jobs(configured), stop)

            def failed() -> list[dict]:
                return [x for x in logs if x["event"] == "job failed; retrying next tick" and x["job"] == name]

            async def two_failures():
                return len(failed()) >= 2

            await _until(two_failures, "two failed pulls")
            # Each failed run is one line saying where and what came back; nothing was stored.
            assert all(x["hub"] == "pullers" and "answered HTTP 502: 502 Bad Gateway" in x["error"] for x in failed())
            asked = sum(1 for r in list(recorded.requests) if r.startswith(ROUTE))
            assert abs(asked - len(failed())) <= 1  # one line per run (the latest may be in flight)
            assert (await ask(nc, "fin-hub", "get_cost_figures", {"ids": ids}))["figures"] == {}

            # OpenCost answers again: the same job, still running, stores the costs.
            recorded.routes[ROUTE] = Answer("opencost-allocation.json")

            async def stored():
                return len((await ask(nc, "fin-hub", "get_cost_figures", {"ids": ids}))["figures"]) == 2

            await _until(stored, "the costs on fin-hub")
            assert any(x["event"] == "pulled" and x["puller"] == name for x in logs)
    finally:
        stop.set()
        await asyncio.gather(*jobs, return_exceptions=True)
        await nc.close()
