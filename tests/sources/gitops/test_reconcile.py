"""The timed reconcile (`VSMESH_GITOPS_REPO`, `VSMESH_GITOPS_EVERY`): the job `vsmesh up` runs for the gitops
package, on the hubs' job mechanism (runtime/jobs.py: its lease, its timer), against the session's `vsmesh up`,
whose scheduler then enforces what the repository's policies say."""

from __future__ import annotations

import asyncio
import time
import uuid

import msgspec
import pytest
from nats.js.errors import NotFoundError

from tests.sources.gitops.orgrepo import OrgRepo
from vsmesh.bus.connection import connect
from vsmesh.bus.publisher import Publisher
from vsmesh.projectors.distribution.lease import lease_bucket
from vsmesh.runtime.jobs import package_jobs, start_jobs
from vsmesh.sources.gitops.status import load_status

pytestmark = pytest.mark.usefixtures("running_mesh")


async def until(check, what: str, timeout: float = 60.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if found := await check():
            return found
        await asyncio.sleep(0.1)
    pytest.fail(f"timed out after {timeout} s waiting for {what}")


def currency() -> str:
    """A made-up currency no other test's money is in."""
    return "".join(chr(ord("A") + b % 26) for b in uuid.uuid4().bytes[:3])


async def test_the_timed_reconcile_follows_the_repository_and_the_scheduler_its_threshold(settings, tmp_path):
    repo = OrgRepo(tmp_path / "org.git")
    t, cur = repo.tag, currency()
    domain, policy = f"rail-{t}", f"canon/policies/thresholds-{t}.yaml"
    repo.write(f"fin/budgets/{domain}.yaml", {"domain": domain, "currency": cur, "periods": {"2026-11": "100.00"}})
    first = repo.commit("a budget")
    nc = await connect(settings)
    js = nc.jetstream()
    stop = asyncio.Event()
    configured = settings.model_copy(update={"gitops_repo": str(repo.path), "gitops_every": 0.3})
    # Unconfigured, the package offers no job; configured, its reconcile, which runs while it holds its lease.
    assert package_jobs(settings) == []
    jobs = package_jobs(configured)
    assert [(owner, job.name) for owner, job in jobs] == [("gitops", "sync")]
    tasks = start_jobs(nc, await lease_bucket(js), configured, jobs, stop)
    try:

        async def synced(commit: str):
            status = await load_status(js, str(repo.path), "main")
            return status if status.commit == commit else None

        await until(lambda: synced(first), "the first commit synced")
        # 60 of 100 spent: no policy of the repository's declares a threshold yet.
        publisher = Publisher(js, settings)
        cost = {"amount": {"amount": "60.00", "currency": cur}, "domain": domain, "incurred_on": "2026-11-05"}
        await publisher.publish(publisher.build("fin-cost-recorded", hub="fin-hub", subject=f"domain/{domain}",
                                                data=cost))  # fmt: skip
        # A commit declares an alert at 50 %: within one sync the scheduler inside `vsmesh up` enforces it.
        repo.write(policy, {"title": "Spending thresholds under test", "values": {"budget_alert_pct": 50}})
        second = repo.commit("alert at half the budget")
        status = await until(lambda: synced(second), "the threshold's commit synced")
        assert status.changed == {"declare": 1} and status.holder  # the lease holder that ran it

        async def alert():
            subject = f"strategic.fin-hub.fin-budget-alert-raised.domain:{domain}"
            try:
                return msgspec.json.decode((await js.get_last_msg("STRATEGIC", subject)).data)
            except NotFoundError:
                return None

        raised = await until(alert, "the budget alert at the repository's threshold")
        assert raised["data"]["threshold_pct"] == 50 and raised["data"]["metadata"]["policy"] == f"thresholds-{t}"
    finally:
        # The threshold's file removed: its policy retired, so no other test's budgets meet it.
        repo.remove(policy)
        last = repo.commit("withdraw the threshold")
        await until(lambda: synced(last), "the withdrawal synced")
        stop.set()
        await asyncio.gather(*tasks, return_exceptions=True)
        await nc.close()
