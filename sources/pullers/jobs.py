"""Each puller of the file as a timed job of `vsmesh up` (runtime/jobs.py): one process of a deployment runs it at
a time (its lease `job.pullers.<name>`), every `every`. A run plans (reads its tool, asks the hubs what they hold)
and publishes what is new; a tool answering an error page is one log line, nothing is stored, and the next run
tries again."""

from __future__ import annotations

import datetime as dt
import functools
import os
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import structlog
from nats.aio.client import Client

from vsmesh.bus.publisher import Published
from vsmesh.hubs.hub import Job, JobContext
from vsmesh.settings import Settings
from vsmesh.sources.pullers.model import (
    KubernetesPuller,
    OpenCostPuller,
    Puller,
    PullerFile,
    TokenUsagePuller,
    load_puller_file,
)
from vsmesh.sources.pullers.plan import Plan, publish

log = structlog.get_logger(__name__)

Planner = Callable[[Any, Client, Mapping[str, str], dt.datetime], Awaitable[Plan]]


def planner(puller: Puller) -> Planner:
    """The function that plans this kind of puller's pull (imported when first used: kr8s is heavy)."""
    if isinstance(puller, OpenCostPuller):
        from vsmesh.sources.pullers.opencost import plan_opencost

        return plan_opencost
    if isinstance(puller, KubernetesPuller):
        from vsmesh.sources.pullers.kubernetes import plan_kubernetes

        return plan_kubernetes
    if isinstance(puller, TokenUsagePuller):
        from vsmesh.sources.pullers.token_usage import plan_token_usage

        return plan_token_usage
    raise TypeError(f"no planner for {type(puller).__name__}")


async def pull(
    puller: Puller,
    nc: Client,
    settings: Settings,
    environ: Mapping[str, str],
    *,
    dry_run: bool = False,
    now: dt.datetime | None = None,
) -> tuple[Plan, list[Published]]:
    """One pull at `now` (default the clock): the plan and, unless `dry_run`, where its events were stored."""
    plan = await planner(puller)(puller, nc, environ, now or dt.datetime.now(dt.UTC))
    if plan.skipped:
        log.warning("pulled items skipped", puller=puller.name, skipped=len(plan.skipped), first=plan.skipped[0])
    return plan, [] if dry_run else await publish(plan, nc, settings)


async def _run(puller: Puller, environ: Mapping[str, str], ctx: JobContext) -> None:
    plan, stored = await pull(puller, ctx.nc, ctx.settings, environ)
    new = sum(not s.duplicate for s in stored)
    log.info("pulled", puller=puller.name, kind=puller.kind, read=plan.read, planned=len(plan.events), stored=new)


def puller_jobs(pullers: PullerFile, environ: Mapping[str, str]) -> list[Job]:
    """A job per puller; `environ` is where their secrets are read when they run."""
    return [Job(p.name, functools.partial(_run, p, environ), every_s=p.every) for p in pullers.pullers]


def jobs(settings: Settings) -> list[Job]:
    """The jobs of VSMESH_PULLERS for `vsmesh up` (runtime/jobs.py's PACKAGE_JOBS); none while it is unset. The
    file names secrets by environment variable: this process's environment is where they are, read at each run
    (the probe runner is handed the same)."""
    if settings.pullers is None:
        return []
    return puller_jobs(load_puller_file(settings.pullers), os.environ)
