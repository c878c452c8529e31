"""The notifier's delivering half: sends what the ledger holds due, records each outcome, and says so as events.

Per (receiver, entity) notifications go in planning order: a later one waits while an earlier one is due and
not delivered (a receiver down for ten minutes gets everything, in order, once back). An attempt that fails for
now is retried with exponential backoff and jitter; after the receiver's last attempt, or at once on an answer
no retry changes (a 4xx), the notification is parked with its error for `vsmesh notify replay`. A silence in
force when a notification falls due suppresses it: recorded, never dropped.

Each outcome is published first (`notification-delivered`, `-failed`, `-suppressed`, with ids derived from the
notification and its attempt, so a repeat is stored once) and then written to the ledger: a crash between the
two delivers again with the same webhook-id, never with another.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import random
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import httpx
import msgspec
import sqlalchemy as sa
import structlog
from prometheus_client import Counter, Histogram
from sqlalchemy.ext.asyncio import AsyncEngine

from vsmesh.bus.publisher import Publisher
from vsmesh.durations import parse_duration
from vsmesh.events.envelope import Event, utc_now
from vsmesh.notify.ledger import notifications
from vsmesh.notify.message import Channel, Message, Outcome
from vsmesh.notify.planner import NotifierState
from vsmesh.notify.receivers import deliver
from vsmesh.notify.routes import Facts

log = structlog.get_logger(__name__)

HUB = "canon-hub"  # the notifier's record and people's silences are the constitution's business
NAMESPACE = uuid.UUID("9c1a7e0b-3f55-4a8e-8d7e-52b0c6f4e1a3")  # never change: stored event ids derive from it
MAX_BACKOFF_S = 600.0
BATCH = 200
CONCURRENCY = 64
TICK_S = 0.5
COALESCE_S = 0.02

DELIVERIES = Counter("vsmesh_notify_deliveries", "notification attempts by receiver and outcome",
                     ["receiver", "outcome"])  # fmt: skip
LATENCY = Histogram(
    "vsmesh_notify_delivery_seconds",
    "first event stored → receiver took the notification",
    ["receiver"],
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 3600),
)


# What an outcome sets on its row, every column in every statement (one executemany for a batch of outcomes).
SETTLED = ("status", "attempts", "last_error", "last_attempt_at", "delivered_at", "next_attempt_at", "silence_id")
SETTLE = (
    notifications.update()
    .where(notifications.c.notification_id == sa.bindparam("nid"))
    .values({c: sa.bindparam(c) for c in SETTLED})
)


def outcome_id(notification_id: str, what: str) -> str:
    return str(uuid.uuid5(NAMESPACE, f"{notification_id}:{what}"))


def backoff_s(base_s: float, attempt: int) -> float:
    """The delay before attempt `attempt + 1`: doubled each time, at most ten minutes, with full jitter's upper
    half (never sooner than half the step, so a receiver coming back is not hit by everyone at once)."""
    step = min(base_s * 2 ** (attempt - 1), MAX_BACKOFF_S)
    return step * random.uniform(0.5, 1.0)


class Deliverer:
    def __init__(
        self,
        engine: AsyncEngine,
        publisher: Publisher,
        state: NotifierState,
        environ: Mapping[str, str],
        data_dir: Path,
    ) -> None:
        self.engine, self.publisher, self.state = engine, publisher, state
        self.environ, self.data_dir = environ, data_dir
        self.inflight: set[str] = set()
        self.outcomes: asyncio.Queue[tuple[Event, dict[str, Any], asyncio.Future]] = asyncio.Queue()
        self.slots = asyncio.Semaphore(CONCURRENCY)
        self.tasks: set[asyncio.Task] = set()

    async def run(self, stop: asyncio.Event) -> None:
        recorder = asyncio.create_task(self.record(stop), name="notify:recorder")
        async with httpx.AsyncClient() as http:
            self.channel = Channel(self.environ, http, self.data_dir)
            while not stop.is_set():
                try:
                    await self.expire_silences()
                    for row in await self.due():
                        self.inflight.add(row["notification_id"])
                        task = asyncio.create_task(self.attempt(row))
                        self.tasks.add(task)
                        task.add_done_callback(self._done)
                except Exception as e:  # noqa: BLE001 - the database or NATS away: said, and tried next tick
                    self.state.last_error = f"{type(e).__name__}: {e}".splitlines()[0][:500]
                    log.error("notifier delivery pass failed; trying again", error=self.state.last_error)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.state.wake.wait(), TICK_S)
                # Every finished attempt wakes this loop (the next of its entity may go): one pass per burst of
                # them, not one query of the due rows per attempt.
                await asyncio.sleep(COALESCE_S)
                self.state.wake.clear()
            for task in [*self.tasks, recorder]:
                task.cancel()

    def _done(self, task: asyncio.Task) -> None:
        self.tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            self.state.last_error = f"{type(task.exception()).__name__}: {task.exception()}"[:500]
            log.error("notification attempt failed unexpectedly", error=self.state.last_error)

    async def due(self) -> list[dict[str, Any]]:
        """Due notifications, none of which waits behind an earlier one of its receiver and entity."""
        n = notifications.c
        earlier = notifications.alias("earlier")
        e = earlier.c
        now = utc_now()
        blocked = sa.exists().where(
            e.receiver == n.receiver, e.entity == n.entity, e.status == "pending", e.due_at <= now, e.seq < n.seq
        )
        query = (
            sa.select(notifications)
            .where(n.status == "pending", n.due_at <= now, n.next_attempt_at <= now, ~blocked)
            .order_by(n.seq)
            .limit(BATCH)
        )
        if self.inflight:
            query = query.where(n.notification_id.not_in(list(self.inflight)))
        async with self.engine.connect() as conn:
            return [dict(r) for r in (await conn.execute(query)).mappings()]

    async def attempt(self, row: dict[str, Any]) -> None:
        nid = row["notification_id"]
        try:
            async with self.slots:
                await self._attempt(row)
        finally:
            self.inflight.discard(nid)
            self.state.wake.set()  # the next of its entity may go now

    async def _attempt(self, row: dict[str, Any]) -> None:
        now = utc_now()
        silence = self._silenced(row, now)
        if silence is not None:
            event = self._event(row, "notification-suppressed", "suppressed", {"silence_id": silence})
            await self._settle(row, event, status="suppressed", silence_id=silence)
            DELIVERIES.labels(row["receiver"], "suppressed").inc()
            return
        receiver = self.state.routing.receivers.get(row["receiver"])
        attempts = row["attempts"] + 1
        if receiver is None:
            outcome = Outcome(False, f"receiver {row['receiver']!r} is no longer declared by a policy", True)
        else:
            body = msgspec.json.encode(row["events"])
            message = Message(row["notification_id"], row["kind"], row["route"], row["events"], body)
            outcome = await deliver(receiver, message, self.channel)
        at = utc_now()
        if outcome.delivered:
            latency = (at - row["first_stored_at"]).total_seconds()
            data = {"attempts": attempts, "latency_ms": round(latency * 1000, 1)}
            event = self._event(row, "notification-delivered", "delivered", data)
            await self._settle(row, event, status="delivered", attempts=attempts, delivered_at=at, last_attempt_at=at,
                               last_error=None)  # fmt: skip
            DELIVERIES.labels(row["receiver"], "delivered").inc()
            LATENCY.labels(row["receiver"]).observe(latency)
            return
        last = outcome.permanent or receiver is None or attempts >= receiver.attempts
        retry_at = None if last else at + dt.timedelta(seconds=backoff_s(parse_duration(receiver.backoff), attempts))
        data = {"attempts": attempts, "error": outcome.error, "parked": last}
        if retry_at is not None:
            data["retry_at"] = retry_at.isoformat()
        event = self._event(row, "notification-failed", f"failed:{attempts}", data)
        update = {"attempts": attempts, "last_error": outcome.error, "last_attempt_at": at}
        if last:
            await self._settle(row, event, status="parked", **update)
        else:
            await self._settle(row, event, next_attempt_at=retry_at, **update)
        DELIVERIES.labels(row["receiver"], "parked" if last else "failed").inc()
        log.warning("notification not delivered", notification_id=row["notification_id"], receiver=row["receiver"],
                    attempts=attempts, parked=last, error=outcome.error)  # fmt: skip

    async def _settle(self, row: dict[str, Any], event: Event, **values: Any) -> None:
        """Hand the outcome to the recorder and wait until it is on the log and in the ledger."""
        done = asyncio.get_running_loop().create_future()
        columns = {c: row[c] for c in SETTLED} | values
        await self.outcomes.put((event, {"nid": row["notification_id"], **columns}, done))
        await done

    async def record(self, stop: asyncio.Event) -> None:
        """Outcomes in batches: their events published side by side (acknowledged), then one transaction for
        their rows — per attempt, a publish and a commit of its own had the deliverer wait on both in turn."""
        while not stop.is_set():
            batch = [await self.outcomes.get()]
            while not self.outcomes.empty() and len(batch) < BATCH:
                batch.append(self.outcomes.get_nowait())
            try:
                await asyncio.gather(*(self.publisher.publish(event) for event, _, _ in batch))
                async with self.engine.begin() as conn:
                    await conn.execute(SETTLE, [values for _, values, _ in batch])
            except Exception as e:  # noqa: BLE001 - each attempt is told; its row stays pending and goes again
                for _, _, done in batch:
                    done.set_exception(e)
                continue
            for _, _, done in batch:
                done.set_result(None)

    def _silenced(self, row: dict[str, Any], now: dt.datetime) -> str | None:
        f = row["facts"]
        facts = Facts(f["hub"], f["type"], f["entity"], f["horizon"], f["severity"] or None)
        for silence in self.state.silences.values():
            if silence.holds(facts, now):
                return silence.silence_id
        return None

    def _event(self, row: dict[str, Any], event_type: str, what: str, extra: dict[str, Any]) -> Event:
        nid = row["notification_id"]
        data = {"notification_id": nid, "receiver": row["receiver"], "route": row["route"],
                "events": row["event_ids"], "kind": row["kind"], **extra}  # fmt: skip
        return self.publisher.build(
            event_type,
            hub=HUB,
            subject=f"notification/{nid}",
            data=data,
            event_id=outcome_id(nid, what),
            causation_id=row["event_ids"][0],
        )

    async def expire_silences(self) -> None:
        """Say once that a silence's time ran out (the planner folds the event and stops asking)."""
        now = utc_now()
        for s in [s for s in self.state.silences.values() if s.until <= now and not s.expired_said]:
            event = self.publisher.build(
                "notification-silence-expired",
                hub=HUB,
                subject=f"silence/{s.silence_id}",
                data={"silence_id": s.silence_id},
                event_id=outcome_id(s.silence_id, "expired"),
                causation_id=s.silence_id,
            )
            await self.publisher.publish(event)
            s.expired_said = True
