"""One audit: run the checks, then publish what changed — a finding raised when it is new, or seen again with
other evidence; one resolved when its check looked where it was and no longer found it.

The event ids derive from the finding, its evidence and the event before it, so two audits at once (the timed
job and `vsmesh audit run`) publish each change once (JetStream drops a twin by its id). The audit publishes as
aud-hub's own service identity whoever asked for it (the asker is in the events' metadata): findings are the
audit's, never the caller's.
"""

from __future__ import annotations

import datetime as dt
import time
import uuid
import zlib
from collections.abc import Awaitable, Callable
from typing import Any

import sqlalchemy as sa
import structlog

from vsmesh.hubs import discovered
from vsmesh.hubs.aud.chain_check import check_chain
from vsmesh.hubs.aud.findings import CheckResult, Finding
from vsmesh.hubs.aud.fresh_check import check_freshness
from vsmesh.hubs.aud.mandate_check import check_mandates
from vsmesh.hubs.aud.rebuild_check import check_rebuilds
from vsmesh.hubs.aud.tables import findings
from vsmesh.hubs.contract import HubContext
from vsmesh.hubs.core.queries import rows

log = structlog.get_logger(__name__)
# Fixed forever: finding events' ids derive from it.
FINDINGS = uuid.UUID("5d0f3c2a-7b1e-5e4c-9a8d-2f6b1c3d4e5f")
ACTOR_KIND = "service"
AUDIT_LOCK = -(zlib.crc32(b"vsmesh:aud-hub:audit") + 1)  # negative: apart from the hubs' write locks


def checks(ctx: HubContext, since: dt.datetime, hubs: list[str]) -> dict[str, Callable[[], Awaitable[CheckResult]]]:
    """Every check by name, bound to what it reads: the log (through the bus) or another hub's contract."""
    return {
        "chain": lambda: check_chain(ctx.js),
        "rebuild": lambda: check_rebuilds(ctx.js, ctx.engine, hubs),
        "mandates": lambda: check_mandates(ctx.js, since),
        "freshness": lambda: check_freshness(ctx.nc),
    }


CHECKS = ("chain", "rebuild", "mandates", "freshness")


async def audit(
    ctx: HubContext, *, only: list[str] | None, since: dt.datetime, hubs: list[str] | None, asked_by: dict[str, Any]
) -> dict[str, Any]:
    """Run the checks (all, or `only`), publish what changed, and say what each read and found.

    One audit at a time in the whole deployment (a PostgreSQL advisory lock, waited for): two would build the
    same copies, and each would publish changes the other has not seen applied yet."""
    bound = checks(ctx, since, hubs or sorted(discovered()))
    async with ctx.engine.connect() as guard:
        await guard.execute(sa.select(sa.func.pg_advisory_lock(AUDIT_LOCK)))
        try:
            results = [await _run(name, bound[name]) for name in (only or CHECKS)]
            raised, resolved = await _publish_changes(ctx, results, asked_by)
            published = [p for p in (*raised, *resolved) if p.get("seq")]
            if published:  # the next audit reads which findings are open: these must be among them
                await ctx.wait_for({published[-1]["stream"]: max(p["seq"] for p in published)}, timeout=30.0)
        finally:
            await guard.execute(sa.select(sa.func.pg_advisory_unlock(AUDIT_LOCK)))
    return {
        "passed": all(r.passed for r in results),
        "checks": [_report(r) for r in results],
        "raised": raised,
        "resolved": resolved,
    }


async def _run(name: str, check: Callable[[], Awaitable[CheckResult]]) -> CheckResult:
    started = time.perf_counter()
    try:
        result = await check()
    except Exception as e:  # noqa: BLE001 - the check's error is its result (reported, resolving nothing); the others run
        log.exception("audit check failed", check=name)
        result = CheckResult(name, "nothing (the check failed)", error=f"{type(e).__name__}: {e}")
    log.info(
        "audit check",
        check=name,
        passed=result.passed,
        findings=len(result.findings),
        seconds=round(time.perf_counter() - started, 2),
    )
    return result


def _report(r: CheckResult) -> dict[str, Any]:
    return {
        "check": r.check,
        "passed": r.passed,
        "read": r.read,
        "error": r.error,
        "findings": [{"finding_id": f.finding_id, "severity": f.severity, "title": f.title} for f in r.findings],
    }


async def _publish_changes(
    ctx: HubContext, results: list[CheckResult], asked_by: dict[str, Any]
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    async with ctx.read() as conn:
        known = {r["finding_id"]: r for r in await rows(conn, sa.select(findings))}
    found = {f.finding_id: f for r in results for f in r.findings}
    raised = [await _raise(ctx, f, known.get(fid), asked_by) for fid, f in found.items() if _changed(f, known.get(fid))]
    ended = [
        row
        for fid, row in known.items()
        if row["status"] == "open" and fid not in found and any(r.looked_at(fid) for r in results)
    ]
    resolved = [await _resolve(ctx, row, results, asked_by) for row in ended]
    return raised, resolved


def _changed(f: Finding, row: dict[str, Any] | None) -> bool:
    return row is None or row["status"] != "open" or row["digest"] != f.digest


async def _raise(ctx: HubContext, f: Finding, row: dict[str, Any] | None, asked_by: dict[str, Any]) -> dict[str, Any]:
    before = (row["resolved_event_id"] or row["raised_event_id"]) if row else ""
    data = {
        "finding_id": f.finding_id,
        "check": f.check,
        "title": f.title,
        "severity": f.severity,
        "evidence": f.evidence,
        "digest": f.digest,
        "metadata": asked_by,
    }
    event_id = str(uuid.uuid5(FINDINGS, f"raised:{f.finding_id}:{f.digest}:{before}"))
    stored = await ctx.publish(
        "aud-finding-raised",
        subject=f"finding/{f.finding_id}",
        data=data,
        actor=ctx.hub,
        actor_kind=ACTOR_KIND,
        event_id=event_id,
    )
    log.warning("audit finding raised", hub=ctx.hub, finding=f.finding_id, severity=f.severity, event_id=stored["id"])
    return {**stored, "finding_id": f.finding_id, "severity": f.severity, "title": f.title}


async def _resolve(
    ctx: HubContext, row: dict[str, Any], results: list[CheckResult], asked_by: dict[str, Any]
) -> dict[str, Any]:
    fid = row["finding_id"]
    by = next(r for r in results if r.looked_at(fid))
    data = {
        "finding_id": fid,
        "check": row["check_name"],
        "reason": f"not found again; read {by.read}",
        "raised_event_id": row["raised_event_id"],
        "metadata": asked_by,
    }
    event_id = str(uuid.uuid5(FINDINGS, f"resolved:{row['raised_event_id']}"))
    stored = await ctx.publish(
        "aud-finding-resolved",
        subject=f"finding/{fid}",
        data=data,
        actor=ctx.hub,
        actor_kind=ACTOR_KIND,
        event_id=event_id,
        causation_id=row["raised_event_id"],
    )
    log.info("audit finding resolved", hub=ctx.hub, finding=fid, event_id=stored["id"])
    return {**stored, "finding_id": fid, "title": row["title"]}
