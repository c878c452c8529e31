"""What people ask of the notifier's ledger: deliveries, what is parked, a replay, and its lag and last error."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from nats.js import JetStreamContext
from nats.js.errors import BucketNotFoundError
from sqlalchemy.ext.asyncio import AsyncEngine

from vsmesh.errors import NotFound
from vsmesh.events.envelope import utc_now
from vsmesh.notify.ledger import ensure_ledger, notifications, positions
from vsmesh.notify.service import LEASE
from vsmesh.projectors.distribution.lease import BUCKET, LeaseEntry, current_holder

SHOWN = ("notification_id", "status", "route", "receiver", "kind", "entity", "attempts", "last_error",
         "created_at", "delivered_at", "event_ids", "silence_id")  # fmt: skip


async def deliveries(engine: AsyncEngine, *, failed: bool = False, limit: int = 50) -> list[dict[str, Any]]:
    """The newest (notification, receiver) rows; `failed`: those parked or failing now."""
    await ensure_ledger(engine)
    n = notifications.c
    query = sa.select(*(n[c] for c in SHOWN)).order_by(n.seq.desc()).limit(limit)
    if failed:
        query = query.where(sa.or_(n.status == "parked", (n.status == "pending") & n.last_error.is_not(None)))
    async with engine.connect() as conn:
        return [dict(r) for r in (await conn.execute(query)).mappings()]


async def notified_facts(engine: AsyncEngine, event_id: str) -> dict[str, str] | None:
    """What the notifier read off an event it told of (hub, type, entity, horizon, severity); None: it told no one."""
    await ensure_ledger(engine)
    n = notifications.c
    query = sa.select(n.facts, n.event_ids).where(n.event_ids.contains([event_id])).order_by(n.seq).limit(1)
    async with engine.connect() as conn:
        row = (await conn.execute(query)).first()
    # A notification's facts are its first event's: another event of its group has its own subject and type.
    return row.facts if row is not None and row.event_ids[0] == event_id else None


async def replay(engine: AsyncEngine, notification_id: str) -> dict[str, Any]:
    """A parked notification is due again, its attempts counted afresh; the same webhook-id goes out."""
    await ensure_ledger(engine)
    n = notifications.c
    now = utc_now()
    async with engine.begin() as conn:
        row = (await conn.execute(sa.select(n.status).where(n.notification_id == notification_id))).first()
        if row is None:
            raise NotFound(f"no notification {notification_id}; `vsmesh notify deliveries --failed` lists them")
        if row.status != "parked":
            raise NotFound(f"notification {notification_id} is {row.status}, not parked: only parked ones replay")
        await conn.execute(
            notifications.update()
            .where(n.notification_id == notification_id)
            .values(status="pending", attempts=0, due_at=now, next_attempt_at=now)
        )
    return {"notification_id": notification_id, "status": "pending"}


async def notifier_status(js: JetStreamContext, engine: AsyncEngine) -> dict[str, Any]:
    """Lag (events stored past its positions), parked and pending counts, and its last error."""
    await ensure_ledger(engine)
    n = notifications.c
    async with engine.connect() as conn:
        at = [dict(r) for r in (await conn.execute(sa.select(positions))).mappings()]
        counts = dict((await conn.execute(sa.select(n.status, sa.func.count()).group_by(n.status))).all())
        error = (
            await conn.execute(
                sa.select(n.last_error).where(n.last_error.is_not(None)).order_by(n.last_attempt_at.desc()).limit(1)
            )
        ).scalar_one_or_none()
    lag = 0
    for p in at:
        lag += max(0, (await js.stream_info(p["stream"])).state.last_seq - p["seq"])
        error = p["last_error"] or error
    holder = await _holder(js)
    return {"running": bool(at), "held_by": holder and f"{holder.host}:{holder.pid}", "lag": lag,
            "parked": counts.get("parked", 0), "pending": counts.get("pending", 0),
            "delivered": counts.get("delivered", 0), "suppressed": counts.get("suppressed", 0),
            "last_error": error}  # fmt: skip


async def _holder(js: JetStreamContext) -> LeaseEntry | None:
    """Which process delivers now (the notifier lease's holder); None when none does."""
    try:
        leases = await js.key_value(BUCKET)
    except BucketNotFoundError:
        return None
    return await current_holder(leases, LEASE, key=LEASE)
