"""Timed jobs: what hubs declare that only the passage of time makes due (hubs/hub.py `Job`), run by `vsmesh up`.

One process of a deployment runs a job at a time: the holder of the lease `job.<hub>.<name>` in `vsmesh-leases`
(projectors/distribution/lease.py); the others stand by and take over when it stops or dies. The holder runs
the job at once, then every `every_s` seconds and, for a job that names `wake_on` hubs, soon after one of them
applied events (their `mesh.applied.<hub>` announcements): a burst of batches wakes it once, SETTLE_S later.
A run that fails is logged and retried at the next tick; nothing is lost while the facts are in the log.

Packages that are not hubs (sources: the GitOps reconcile, the pullers) offer jobs on the same mechanism: each
names a function of the settings in `PACKAGE_JOBS` that returns its jobs (none while it is not configured), and
their leases are `job.<package>.<name>`. A list here rather than an entry-point group: these packages are
vsmesh's own and ship with it, while hubs may come from other distributions.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Iterable

import structlog
from nats.aio.client import Client
from nats.js.kv import KeyValue

from vsmesh.bus.subjects import applied_subject
from vsmesh.hubs.hub import Hub, Job, JobContext, load
from vsmesh.projectors.distribution.lease import holder_id, run_leased
from vsmesh.settings import Settings

log = structlog.get_logger(__name__)

SETTLE_S = 1.0  # a burst of applied batches becomes one run; the run's own events wake at most one more


# Package → a `module:function` taking the Settings and returning that package's Jobs (empty when unconfigured).
PACKAGE_JOBS: dict[str, str] = {
    "gitops": "vsmesh.sources.gitops.job:jobs",
    "pullers": "vsmesh.sources.pullers.jobs:jobs",
}


def job_lease(owner: str, job: Job) -> str:
    return f"job.{owner}.{job.name}"


def hub_jobs(hubs: Iterable[Hub]) -> list[tuple[str, Job]]:
    """Each hub's timed jobs, with the hub that owns them."""
    return [(h.slug, job) for h in hubs for job in h.timed_jobs()]


def package_jobs(settings: Settings) -> list[tuple[str, Job]]:
    """The jobs of vsmesh's packages that are not hubs, as their settings configure them."""
    offered: list[tuple[str, Job]] = []
    for owner, reference in PACKAGE_JOBS.items():
        jobs_of: Callable[[Settings], Iterable[Job]] = load(reference)
        offered += [(owner, job) for job in jobs_of(settings)]
    return offered


def start_jobs(
    nc: Client,
    leases: KeyValue,
    settings: Settings,
    owned: Iterable[tuple[str, Job]],
    stop: asyncio.Event,
    *,
    replicas: int = 1,
) -> list[asyncio.Task]:
    """A task per (owner, job), each running its job while this process holds the job's lease."""
    return [
        asyncio.create_task(
            run_job(nc, leases, settings, owner, job, stop, replicas=replicas), name=f"job:{owner}:{job.name}"
        )
        for owner, job in owned
    ]


async def run_job(
    nc: Client, leases: KeyValue, settings: Settings, hub: str, job: Job, stop: asyncio.Event, *, replicas: int = 1
) -> None:
    holder = holder_id()

    async def work(stop_work: asyncio.Event) -> None:
        await _every(JobContext(nc, settings, hub, holder, replicas), job, stop_work)

    await run_leased(leases, f"{hub}:{job.name}", work, stop, holder=holder, key=job_lease(hub, job))


async def _every(ctx: JobContext, job: Job, stop: asyncio.Event) -> None:
    wake = asyncio.Event()

    async def on_applied(msg) -> None:
        wake.set()

    subs = [await ctx.nc.subscribe(applied_subject(h), cb=on_applied) for h in job.wake_on]
    try:
        while not stop.is_set():
            wake.clear()
            try:
                await job.run(ctx)
            except Exception as e:  # noqa: BLE001 - the next tick retries; a job's facts stay in the log
                log.warning("job failed; retrying next tick", hub=ctx.hub, job=job.name, error=str(e) or repr(e))
            await _wait_any(stop, wake, job.interval(ctx.settings))
            if not stop.is_set() and wake.is_set():
                await _wait_any(stop, asyncio.Event(), SETTLE_S)  # let a burst of batches land first
    finally:
        for sub in subs:
            with contextlib.suppress(Exception):
                await sub.unsubscribe()


async def _wait_any(stop: asyncio.Event, wake: asyncio.Event, seconds: float) -> None:
    waits = [asyncio.ensure_future(stop.wait()), asyncio.ensure_future(wake.wait())]
    try:
        await asyncio.wait(waits, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for w in waits:
            w.cancel()
