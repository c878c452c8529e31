"""The timed reconcile: `vsmesh up` with `VSMESH_GITOPS_REPO` syncs it every `VSMESH_GITOPS_EVERY` seconds, one
deployment at a time (the job's lease, runtime/jobs.py), as the service `VSMESH_GITOPS_ACTOR`.

A refused commit is reported (its alert, the status) and the next tick tries again: the last good commit stays in
force until a commit that validates arrives.
"""

from __future__ import annotations

import structlog

from vsmesh.errors import CommitRefused
from vsmesh.hubs.hub import Job, JobContext
from vsmesh.settings import Settings
from vsmesh.sources.gitops.sync import sync

log = structlog.get_logger(__name__)


async def reconcile(ctx: JobContext) -> None:
    settings = ctx.settings
    assert settings.gitops_repo is not None
    actor = settings.model_copy(update={"actor": settings.gitops_actor, "actor_kind": "service"})
    try:
        await sync(ctx.nc, actor, settings.gitops_repo, settings.gitops_ref, replicas=ctx.replicas, holder=ctx.holder)
    except CommitRefused as e:
        log.warning("gitops commit refused; the last good commit stays in force", commit=e.commit,
                    problems=len(e.problems))  # fmt: skip


def jobs(settings: Settings) -> tuple[Job, ...]:
    """The reconcile, when a repository is configured."""
    if settings.gitops_repo is None:
        return ()
    return (Job("sync", reconcile, lambda s: s.gitops_every),)
