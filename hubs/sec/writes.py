"""sec-hub's write operations: an exception granted, a rotation recorded, and what the passage of time has made
true (expired exceptions, overdue rotations) published once."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import sqlalchemy as sa
from pydantic import Field
from sqlalchemy.ext.asyncio import AsyncConnection

from vsmesh.clock import at_or_now
from vsmesh.errors import ContractError
from vsmesh.hubs.contract import HubContext, Operation
from vsmesh.hubs.core.tables import risks
from vsmesh.hubs.core.writes import WriteRequest, publish_as_caller
from vsmesh.hubs.sec import queries

# Fixed forever: the expiry watch's event ids derive from it, so a second watch (or a restart) publishes nothing new.
WATCH_NAMESPACE = uuid.UUID("0b7e9c44-3f1d-5a2b-8e6c-9d4f1a2b3c5d")
Name = Field(min_length=1, max_length=200)
ROTATION_RISK = "sec-rotation-overdue"  # the category of the risk an overdue rotation raises
OPEN_RISK = ("surfaced", "escalated")  # a risk the rotation still has to mitigate


class GrantExceptionRequest(WriteRequest):
    exception_id: str = Name
    owner: str = Name
    reason: str = Field(min_length=1, max_length=2000)
    expires_on: dt.date
    finding_id: str | None = None
    rule: str | None = None
    service: str | None = None
    compensating_control: str | None = None
    backdate: bool = Field(False, description="record an exception whose expiry date is already past")


async def grant_exception(ctx: HubContext, request: GrantExceptionRequest) -> dict[str, Any]:
    if not request.finding_id and not request.rule:
        raise ContractError("invalid_request", "an exception needs a finding_id, or a rule (and optionally a service)")
    today = dt.datetime.now(dt.UTC).date()
    if request.expires_on < today and not request.backdate:  # a typo'd year would accept nothing, expired at once
        raise ContractError(
            "invalid_request",
            f"expires_on {request.expires_on} is already past (today is {today}, UTC): give a future date, "
            "or backdate: true to record an exception that already expired",
        )
    fields = {"exception_id", "owner", "reason", "expires_on", "finding_id", "rule", "service", "compensating_control"}
    data = {k: v for k, v in request.model_dump(mode="json", include=fields).items() if v is not None}
    return await publish_as_caller(ctx, "sec-exception-granted", request, f"exception/{request.exception_id}", data)


class RecordRotationRequest(WriteRequest):
    secret_set: str = Name
    rotated_on: dt.date
    note: str | None = None


async def record_rotation(ctx: HubContext, request: RecordRotationRequest) -> dict[str, Any]:
    data = {k: v for k, v in request.model_dump(mode="json", include={"secret_set", "rotated_on", "note"}).items() if v}
    return await publish_as_caller(ctx, "sec-secret-rotated", request, f"secret-set/{request.secret_set}", data)


class CheckExpiriesRequest(WriteRequest):
    """A write: it publishes what has become true (the gateway asks for a write mandate)."""

    now: dt.datetime | None = Field(None, description="judge expiries and rotations at this time; default: now")


async def check_expiries(ctx: HubContext, request: CheckExpiriesRequest) -> dict[str, Any]:
    """Publish what the passage of time has made true, once: each exception past its expiry
    (`sec-exception-expired`, which couplings turn into an alert and a canon escalation), each secret set
    past its rotation due date (`risk-surfaced`), and each such risk whose set has been rotated since
    (`risk-mitigated`). Ids derive from the exception and expiry (the secret and its due date; the risk), and
    the read model says what is already published, so running it again publishes nothing."""
    now = at_or_now(request.now)
    async with ctx.read() as conn:
        exceptions = await queries.exception_rows(conn, now)
        secret_sets = await queries.secret_rows(conn, now)
        rotation_risks = await _rotation_risks(conn)
    return {
        "exceptions_expired": await _publish_expired(ctx, request, exceptions),
        "rotations_overdue": await _publish_overdue(ctx, request, secret_sets, rotation_risks),
        "rotations_mitigated": await _publish_rotated(ctx, request, secret_sets, rotation_risks),
    }


async def _rotation_risks(conn: AsyncConnection) -> dict[str, dict[str, Any]]:
    """Every overdue-rotation risk by id, with its entity and status."""
    r = risks.c
    query = sa.select(r.risk_id, r.entity, r.status).where(r.category == ROTATION_RISK)
    return {row["risk_id"]: dict(row) for row in (await conn.execute(query)).mappings()}


async def _publish_expired(ctx: HubContext, request: CheckExpiriesRequest, exceptions: list[dict]) -> list[str]:
    published = []
    for e in [e for e in exceptions if e["status"] == "expired" and not e["expired_event_id"]]:
        data = {"exception_id": e["exception_id"], "expires_on": e["expires_on"].isoformat(), "owner": e["owner"]}
        event_id = str(uuid.uuid5(WATCH_NAMESPACE, f"expired:{e['exception_id']}:{e['expires_on']}"))
        await publish_as_caller(
            ctx, "sec-exception-expired", request, f"exception/{e['exception_id']}", data, event_id=event_id,
            causation_id=e["event_id"],
        )  # fmt: skip
        published.append(e["exception_id"])
    return published


async def _publish_overdue(
    ctx: HubContext, request: CheckExpiriesRequest, secret_sets: list[dict], known: dict[str, dict]
) -> list[str]:
    published = []
    for s in [s for s in secret_sets if s["overdue"]]:
        event_id = str(uuid.uuid5(WATCH_NAMESPACE, f"rotation:{s['secret_set']}:{s['due_on']}"))
        if event_id in known:
            continue
        since = s["last_rotated_on"] or "never rotated"
        data = {
            "title": f"secret set {s['secret_set']} overdue for rotation (due {s['due_on']})",
            "severity": "high",
            "category": ROTATION_RISK,
            "description": f"last rotation: {since}; policy {s['policy']} allows {s['max_age_days']} days",
            "owner": s["owner"],
        }
        await publish_as_caller(ctx, "risk-surfaced", request, f"secret-set/{s['secret_set']}", data, event_id=event_id)
        published.append(s["secret_set"])
    return published


async def _publish_rotated(
    ctx: HubContext, request: CheckExpiriesRequest, secret_sets: list[dict], known: dict[str, dict]
) -> list[str]:
    """An open overdue-rotation risk of a set that is no longer overdue: mitigated, by the rotation."""
    current = {f"secret-set/{s['secret_set']}": s for s in secret_sets if not s["overdue"]}
    published = []
    for risk_id, risk in known.items():
        s = current.get(risk["entity"])
        if s is None or risk["status"] not in OPEN_RISK:
            continue
        rotated = f"rotated on {s['last_rotated_on']}" if s["last_rotated_on"] else "no longer overdue"
        next_due = f"; next rotation due {s['due_on']}" if s["due_on"] else ""
        data = {"risk_id": risk_id, "mitigation": rotated + next_due}
        event_id = str(uuid.uuid5(WATCH_NAMESPACE, f"rotated:{risk_id}"))
        await publish_as_caller(ctx, "risk-mitigated", request, risk["entity"], data, event_id=event_id)
        published.append(s["secret_set"])
    return published


def write_operations() -> list[Operation]:
    return [
        Operation(
            "grant_exception",
            GrantExceptionRequest,
            grant_exception,
            "accept a finding or rule until a date",
            writes=True,
        ),
        Operation(
            "record_rotation", RecordRotationRequest, record_rotation, "say a secret set was rotated", writes=True
        ),
        Operation(
            "check_expiries",
            CheckExpiriesRequest,
            check_expiries,
            "publish expired exceptions and overdue rotations",
            writes=True,
        ),
    ]
