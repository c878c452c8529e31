"""sec-hub's reads, judged at a given `now`: an exception is live until the end of its expiry day, a finding a
live exception covers is `accepted`, a secret older than the latest rotation policy allows is overdue."""

from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from vsmesh.hubs.core import queries
from vsmesh.hubs.sec.tables import exceptions, finding_sightings, findings, rotation_policies, rotations, secrets

SEVERITIES = ("critical", "high", "medium", "low", "info")
EXPIRING_DAYS = 14  # the summary's "expiring soon": two weeks for an owner to renew an exception or fix its finding


def covers(exception: dict[str, Any], finding: dict[str, Any]) -> bool:
    """An exception names one finding, or a rule (on one service, or on every service)."""
    if exception["finding_id"]:
        return exception["finding_id"] == finding["finding_id"]
    if exception["rule"] != finding["rule"]:
        return False
    return exception["service"] in (None, finding["service"])


def is_live(exception: dict[str, Any], today: dt.date) -> bool:
    return exception["expires_on"] >= today


async def exception_rows(conn: AsyncConnection, now: dt.datetime) -> list[dict[str, Any]]:
    today = now.date()
    rows = await queries.rows(conn, sa.select(exceptions).order_by(exceptions.c.expires_on, exceptions.c.exception_id))
    for r in rows:
        r["status"] = "live" if is_live(r, today) else "expired"
        r["days_left"] = (r["expires_on"] - today).days
    return rows


async def finding_rows(
    conn: AsyncConnection,
    now: dt.datetime,
    *,
    service: str | None = None,
    source: str | None = None,
    status: str | None = None,
) -> list[dict[str, Any]]:
    """Findings with first seen and status open | accepted | fixed (accepted: a live exception covers it)."""
    f = findings.c
    first_seen = (
        sa.select(sa.func.min(finding_sightings.c.seen_at))
        .where(finding_sightings.c.finding_id == f.finding_id)
        .scalar_subquery()
        .label("first_seen")
    )
    query = sa.select(findings, first_seen)
    if service is not None:
        query = query.where(f.service == service)
    if source is not None:
        query = query.where(f.source == source)
    rows = await queries.rows(conn, query.order_by(f.service, f.severity, f.finding_id))
    live = [e for e in await exception_rows(conn, now) if e["status"] == "live"]
    for r in rows:
        covering = [e["exception_id"] for e in live if covers(e, r)]
        r["exception_id"] = covering[0] if covering else None
        if r["status"] == "open" and covering:
            r["status"] = "accepted"
    return [r for r in rows if status is None or r["status"] == status]


async def secret_rows(conn: AsyncConnection, now: dt.datetime) -> list[dict[str, Any]]:
    """Each tracked secret set with its last rotation, the policy's limit and whether it is overdue."""
    policy = await latest_policy(conn)
    last = (
        sa.select(rotations.c.secret_set, sa.func.max(rotations.c.rotated_on).label("last_rotated_on"))
        .group_by(rotations.c.secret_set)
        .subquery()
    )
    query = (
        sa.select(secrets, last.c.last_rotated_on)
        .outerjoin(last, last.c.secret_set == secrets.c.secret_set)
        .order_by(secrets.c.secret_set)
    )
    rows = await queries.rows(conn, query)
    for r in rows:
        r["max_age_days"] = policy["max_age_days"] if policy else None
        r["policy"] = policy["policy"] if policy else None
        r["due_on"] = _due_on(r, policy)
        r["overdue"] = r["due_on"] is not None and r["due_on"] < now.date()
    return rows


def _due_on(secret: dict[str, Any], policy: dict[str, Any] | None) -> dt.date | None:
    # Never rotated: the clock runs from when sec began tracking the set.
    if policy is None:
        return None
    since = secret["last_rotated_on"] or (secret["tracked_at"].date() if secret["tracked_at"] else None)
    return since + dt.timedelta(days=policy["max_age_days"]) if since else None


async def latest_policy(conn: AsyncConnection) -> dict[str, Any] | None:
    p = rotation_policies.c
    found = await queries.rows(
        conn, sa.select(rotation_policies).order_by(p.adopted_at.desc(), p.event_id.desc()).limit(1)
    )
    return found[0] if found else None


async def summary(conn: AsyncConnection, now: dt.datetime) -> dict[str, Any]:
    """Open findings by severity and service, accepted ones, exceptions expiring soon or expired, overdue
    rotations."""
    found = await finding_rows(conn, now)
    open_ = [f for f in found if f["status"] == "open"]
    by_severity = {s: sum(1 for f in open_ if f["severity"] == s) for s in SEVERITIES}
    by_service: dict[str, dict[str, int]] = {}
    for f in open_:
        counts = by_service.setdefault(f["service"], {})
        counts[f["severity"]] = counts.get(f["severity"], 0) + 1
    excs = await exception_rows(conn, now)
    keep = ("exception_id", "owner", "expires_on", "days_left", "reason")
    keep_f = ("service", "rule", "severity", "package", "installed_version", "fixed_version")
    return {
        "hub": "sec-hub",
        "now": now,
        "open_findings": len(open_),
        "accepted_findings": sum(1 for f in found if f["status"] == "accepted"),
        "fixed_findings": sum(1 for f in found if f["status"] == "fixed"),
        "open_by_severity": by_severity,
        "open_by_service": [{"service": s, **c} for s, c in sorted(by_service.items())],
        "findings": [{**{k: f[k] for k in keep_f}, "status": f["status"]} for f in found if f["status"] != "fixed"],
        "exceptions_expiring": [
            {k: e[k] for k in keep} for e in excs if e["status"] == "live" and e["days_left"] <= EXPIRING_DAYS
        ],
        "exceptions_expired": [{k: e[k] for k in keep} for e in excs if e["status"] == "expired"],
        "live_exceptions": sum(1 for e in excs if e["status"] == "live"),
        "overdue_rotations": [
            {k: s[k] for k in ("secret_set", "owner", "last_rotated_on", "due_on", "max_age_days")}
            for s in await secret_rows(conn, now)
            if s["overdue"]
        ],
    }
