"""dev-hub's read operations: its summary and its deployments."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from pydantic import Field
from sqlalchemy.ext.asyncio import AsyncConnection

from vsmesh.hubs.contract import ContractRequest, HubContext, Operation
from vsmesh.hubs.core.queries import rows
from vsmesh.hubs.dev import manifest
from vsmesh.hubs.dev.tables import blockers, decisions, deployments, repo_activity, repos, running


async def domain_summary(conn: AsyncConnection, *, recent: int = 10) -> dict[str, Any]:
    """Repos, what runs where, open blockers, recent deployments and decisions."""
    d = deployments.c
    by_status = dict(
        (await conn.execute(sa.select(d.status, sa.func.count()).group_by(d.status))).all()  # type: ignore[arg-type]
    )
    return {
        "hub": manifest.SLUG,
        "repos": await rows(conn, sa.select(repos.c.name, repos.c.url, repos.c.domain).order_by(repos.c.name)),
        "running": await rows(conn, sa.select(running).order_by(running.c.service, running.c.environment)),
        "repo_activity": await rows(  # the forge's latest pushes and releases (README: Integrations)
            conn, sa.select(repo_activity).order_by(repo_activity.c.pushed_at.desc().nulls_last()).limit(recent)
        ),
        "deployments_by_status": by_status,
        "recent_deployments": await rows(conn, _deployments_query(limit=recent)),
        "open_blockers": await rows(
            conn,
            sa.select(
                blockers.c.blocker_id, blockers.c.title, blockers.c.severity, blockers.c.blocking, blockers.c.raised_at
            )
            .where(blockers.c.status == "raised", blockers.c.title.is_not(None))
            .order_by(blockers.c.raised_at.desc()),
        ),  # fmt: skip
        "recent_decisions": await rows(
            conn,
            sa.select(
                decisions.c.decision_id,
                decisions.c.title,
                decisions.c.decision,
                decisions.c.status,
                decisions.c.recorded_at,
            )
            .where(decisions.c.title.is_not(None))
            .order_by(decisions.c.recorded_at.desc())
            .limit(recent),
        ),  # fmt: skip
    }


def _deployments_query(
    *, limit: int, service: str | None = None, environment: str | None = None, status: str | None = None
) -> sa.Select:
    d = deployments.c
    query = sa.select(
        d.deployment_id, d.service, d.version, d.environment, d.status, d.started_at, d.finished_at, d.detail
    )
    for column, wanted in ((d.service, service), (d.environment, environment), (d.status, status)):
        if wanted is not None:
            query = query.where(column == wanted)
    latest = sa.func.coalesce(d.finished_at, d.started_at)
    return query.order_by(latest.desc(), d.deployment_id).limit(limit)


class SummaryRequest(ContractRequest):
    recent: int = Field(10, ge=0, le=200, description="how many recent deployments and decisions to include")


class DeploymentsRequest(ContractRequest):
    service: str | None = None
    environment: str | None = None
    status: str | None = Field(None, pattern="^(started|completed|failed|rolled-back)$")
    limit: int = Field(50, ge=1, le=1000)


async def get_domain_summary(ctx: HubContext, request: SummaryRequest) -> dict[str, Any]:
    async with ctx.read() as conn:
        return await domain_summary(conn, recent=request.recent)


async def get_deployments(ctx: HubContext, request: DeploymentsRequest) -> dict[str, Any]:
    query = _deployments_query(
        limit=request.limit, service=request.service, environment=request.environment, status=request.status
    )
    async with ctx.read() as conn:
        return {"deployments": await rows(conn, query)}


def read_operations() -> list[Operation]:
    return [
        Operation("get_domain_summary", SummaryRequest, get_domain_summary, "repos, running versions, blockers"),
        Operation("get_deployments", DeploymentsRequest, get_deployments, "deployments, newest first, filtered"),
    ]
