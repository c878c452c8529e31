"""The notifier's reading half: follows every horizon stream and plans (notification, receiver) rows.

It reads through the one event source (projectors/engine/source.py) like a coupling, and per batch, in one
transaction: folds canon's policies and silences into the ledger, plans what the batch's events ask for under
the routes in force (joining a group still waiting, or opening a notification), and moves the position. A
crash re-reads the batch and derives the same notification ids, so nothing is planned twice or lost. A batch
with nothing to fold or plan (most are) writes nothing: its position waits in memory and is stored with the next
batch that writes, every `VSMESH_REACTOR_SAVE_EVERY_S` and at stop (projectors/couplings/saver.py); read again
after a crash, it plans nothing again.

The first start begins at each stream's head: a mesh's past is not news. The constitutional stream is read
from its start even then, for canon's routes, but nothing stored before the first start is told; and the silences
people set before it (operational events) are read once, from the start to the head, so they hold from the first
notification on.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
from dataclasses import dataclass, field
from typing import Any

import msgspec
import sqlalchemy as sa
import structlog
from nats.js import JetStreamContext
from sqlalchemy.dialects.postgresql import distinct_on, insert
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from vsmesh.bus.reader import Start, StreamReader, stream_sequence
from vsmesh.bus.streams import stream_for
from vsmesh.events.codec import encode_event
from vsmesh.events.envelope import Event, Horizon, utc_now
from vsmesh.events.schemas.canon import CanonPolicyDeclared
from vsmesh.events.schemas.notification import NotificationSilenceExpired, NotificationSilenceSet
from vsmesh.notify.ledger import notifications, policies, positions, silences, told
from vsmesh.notify.routes import (
    Facts,
    Planned,
    Routing,
    after_quiet_hours,
    facts_of,
    fingerprint,
    notification_id,
    opens,
    plan,
    resolves,
    routing,
)
from vsmesh.projectors.couplings.saver import LazyPosition
from vsmesh.projectors.engine.source import Follow, Stored, decode, follow, retry

log = structlog.get_logger(__name__)

FOLLOW = Follow(size=500, wait_s=0.005, max_queued=2000)
STREAMS = tuple(stream_for(h) for h in Horizon)
CONSTITUTIONAL = stream_for(Horizon.CONSTITUTIONAL)
OPERATIONAL = stream_for(NotificationSilenceSet.horizon)  # where people's silences are stored
SILENCE_TYPES = ("notification-silence-set", "notification-silence-expired")
OWN_TYPES = "notification-"  # the notifier's own record is never news to tell
FOLDED = (CanonPolicyDeclared, NotificationSilenceSet, NotificationSilenceExpired)  # kept in the ledger


@dataclass
class Silence:
    silence_id: str
    matchers: dict[str, str]
    starts_at: dt.datetime
    until: dt.datetime
    reason: str
    expired_said: bool = False

    def holds(self, facts: Facts, now: dt.datetime) -> bool:
        from vsmesh.notify.routes import silence_matches

        return self.starts_at <= now < self.until and silence_matches(self.matchers, facts)


@dataclass
class NotifierState:
    """What both halves share in memory: the routes and silences in force, and figures for status and metrics."""

    policies: dict[str, Any] = field(default_factory=dict)  # policy slug → its values
    routing: Routing = field(default_factory=Routing)
    silences: dict[str, Silence] = field(default_factory=dict)
    positions: dict[str, int] = field(default_factory=dict)
    last_error: str | None = None
    wake: asyncio.Event = field(default_factory=asyncio.Event)  # planned something: the deliverer looks now
    # Set once the constitutional planner has read canon's routes and silences up to the head it found at start:
    # the other streams wait for it, so a restart never plans an event under fewer routes than were declared.
    canon_read: asyncio.Event = field(default_factory=asyncio.Event)

    def policy(self, slug: str, values: Any) -> None:
        self.policies[slug] = values
        self.routing = routing(self.policies.items())
        for problem in self.routing.ignored:
            log.warning("notify route ignored", problem=problem)

    async def load(self, engine: AsyncEngine) -> None:
        """What the ledger holds, in place of what was here (a holder taking the lease again starts afresh)."""
        self.policies, self.silences, self.canon_read = {}, {}, asyncio.Event()
        async with engine.connect() as conn:
            for row in (await conn.execute(sa.select(policies.c.policy, policies.c["values"]))).all():
                self.policies[row.policy] = row.values
            self.positions = {r.stream: r.seq for r in (await conn.execute(sa.select(positions))).all()}
        self.routing = routing(self.policies.items())
        await self.load_silences(engine)

    async def load_silences(self, engine: AsyncEngine) -> None:
        async with engine.connect() as conn:
            for row in (await conn.execute(sa.select(silences))).mappings():
                self.silences.setdefault(row["silence_id"], _silence(row))


async def claim_start(js: JetStreamContext, engine: AsyncEngine, stream: str) -> tuple[int, int]:
    """(position, notify after): kept from before, or on the first start the stream's head (the constitutional
    stream's position 0: canon's routes are read from the start, told of from the head on; on the operational stream
    the silences set before it are folded first, in the same transaction)."""
    async with engine.begin() as conn:
        row = (await conn.execute(sa.select(positions).where(positions.c.stream == stream))).first()
        if row is not None:
            return row.seq, row.notify_after
        head = (await js.stream_info(stream)).state.last_seq
        start = 0 if stream == CONSTITUTIONAL else head
        if stream == OPERATIONAL:
            for event in await _silences_up_to(js, head):
                await fold_silence(conn, event, {})
        await conn.execute(
            insert(positions).values(stream=stream, seq=start, notify_after=head).on_conflict_do_nothing()
        )
    return start, head


async def _silences_up_to(js: JetStreamContext, head: int) -> list[Event]:
    """The silences set and expired on the operational stream up to `head`, in the order they were stored."""
    stored = []
    for event_type in SILENCE_TYPES:
        async with StreamReader(js, OPERATIONAL, f"operational.*.{event_type}.>", Start()) as reader:
            async for batch in reader.drain_to_head(stop=lambda m: stream_sequence(m) > head):
                stored += batch
    stored.sort(key=stream_sequence)
    return [event for _, _, event in decode(stored).events]


async def fold_silence(conn: AsyncConnection, event: Event, held: dict[str, Silence]) -> None:
    """A silence set or said to have expired, into the ledger (and `held`, the silences in memory)."""
    if isinstance(event, NotificationSilenceSet):
        d = event.data
        row = {"silence_id": event.id, "matchers": d.matchers, "starts_at": d.starts_at or event.time}
        row |= {"until": d.until, "reason": d.reason, "author": event.actor}
        await conn.execute(insert(silences).values(row).on_conflict_do_nothing())
        held[event.id] = _silence(row)
    elif isinstance(event, NotificationSilenceExpired):
        sid = event.data.silence_id
        await conn.execute(silences.update().where(silences.c.silence_id == sid).values(expired_said=True))
        if sid in held:
            held[sid].expired_said = True


def _silence(row: Any) -> Silence:
    return Silence(row["silence_id"], row["matchers"], row["starts_at"], row["until"], row["reason"],
                   row.get("expired_said", False))  # fmt: skip


class Planner:
    """One horizon stream, read in batches, planned in one transaction per batch."""

    def __init__(
        self, js: JetStreamContext, engine: AsyncEngine, state: NotifierState, stream: str, save_every_s: float = 1.0
    ) -> None:
        self.js, self.engine, self.state, self.stream = js, engine, state, stream
        self.notify_after = 0
        self.canon_head = 0
        self.log = log.bind(stream=stream, part="notify-planner")
        self.saved = LazyPosition(self._store, save_every_s)
        self._failed = False  # the stored row names an error: the next batch clears it at once

    async def run(self, stop: asyncio.Event) -> None:
        # The database or NATS away at start is waited for, as a batch would be: the planner never dies of it.
        position = await retry(self._start_position, stop=stop, transient=(Exception,), on_error=self._report)
        if position is None:
            return
        if self.stream == CONSTITUTIONAL:
            if position >= self.canon_head:
                self.state.canon_read.set()
        else:
            waits = [asyncio.ensure_future(self.state.canon_read.wait()), asyncio.ensure_future(stop.wait())]
            await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
            for w in waits:
                w.cancel()
        self.log.info("notifier following", position=position, notify_after=self.notify_after)
        self.saved.reset(position)
        async with self.saved.kept(stop, self.log):
            async for batch in follow(self.js, self.stream, f"{self.stream.lower()}.>", position, FOLLOW, stop):
                await retry(lambda b=batch: self.handle(b.msgs), stop=stop, transient=(Exception,),
                            on_error=self._report)  # fmt: skip

    async def _store(self, seq: int) -> None:
        """The position alone (the batches up to it wrote nothing); never back past a holder's before it."""
        async with self.engine.begin() as conn:
            stmt = positions.update().where(positions.c.stream == self.stream)
            await conn.execute(stmt.values(seq=sa.func.greatest(positions.c.seq, seq), updated_at=utc_now()))

    async def _start_position(self) -> int:
        seq, self.notify_after = await claim_start(self.js, self.engine, self.stream)
        if self.stream == CONSTITUTIONAL:
            self.canon_head = (await self.js.stream_info(self.stream)).state.last_seq
        if self.stream == OPERATIONAL:  # a first start has just read the silences set before it
            await self.state.load_silences(self.engine)
        return seq

    async def _report(self, e: BaseException) -> None:
        error = f"{type(e).__name__}: {e}".splitlines()[0][:500]
        self.state.last_error = error
        self._failed = True
        self.log.error("notifier batch failed; it will be retried", error=error)
        with contextlib.suppress(Exception):  # the database may be what failed: the log line says it anyway
            async with self.engine.begin() as conn:
                stmt = positions.update().where(positions.c.stream == self.stream)
                await conn.execute(stmt.values(last_error=error, error_at=utc_now()))

    async def handle(self, msgs: list) -> None:
        decoded = decode(msgs)
        last = stream_sequence(msgs[-1])
        planned = 0
        if self._failed or self.saved.due() or self._writes(decoded.events):
            async with self.saved.writing(last):
                planned = await self._write(decoded.events, last)
            self._failed = False
        else:
            self.saved.passed(last)
        self.state.positions[self.stream] = last
        self.state.last_error = None
        if self.stream == CONSTITUTIONAL and last >= self.canon_head:
            self.state.canon_read.set()
        if planned:
            self.state.wake.set()

    def _writes(self, events: list[Stored]) -> bool:
        """Whether a batch has anything for the ledger: canon's routes or a silence, or an event to tell of."""
        for seq, _, event in events:
            if isinstance(event, FOLDED):
                return True
            if seq <= self.notify_after or event.type.startswith(OWN_TYPES):
                continue
            if resolves(event) is not None or plan(event, self.state.routing):
                return True
        return False

    async def _write(self, events: list[Stored], last: int) -> int:
        """In one transaction: the batch folded and planned, and the position past it; how many were planned."""
        now = utc_now()
        planned = 0
        async with self.engine.begin() as conn:
            segment = Segment(now)
            for seq, _, event in events:
                await self._fold(conn, event)
                if seq <= self.notify_after or event.type.startswith(OWN_TYPES):
                    continue
                resolved = resolves(event)
                if resolved is not None:  # after what the segment told: it may tell of what this resolves
                    planned += await segment.write(conn)
                    segment = Segment(now)
                    planned += await self._resolved(conn, event, _cloud_event(event), resolved, now)
                else:
                    segment.add(event, plan(event, self.state.routing))
            planned += await segment.write(conn)
            await conn.execute(
                positions.update()
                .where(positions.c.stream == self.stream)
                .values(seq=last, updated_at=now, last_error=None)
            )
        return planned

    async def _fold(self, conn: AsyncConnection, event: Event) -> None:
        """canon's routes and silences, kept with the position that read them."""
        if isinstance(event, CanonPolicyDeclared):
            values = event.data.metadata.get("values")
            row = {"policy": event.data.policy, "values": values, "event_id": event.id, "declared_at": event.time}
            await conn.execute(insert(policies).values(row).on_conflict_do_update(index_elements=["policy"], set_=row))
            self.state.policy(event.data.policy, values)
        elif isinstance(event, FOLDED):
            await fold_silence(conn, event, self.state.silences)

    async def _resolved(
        self, conn: AsyncConnection, event: Event, cloud_event: dict, opened_by: str, now: dt.datetime
    ) -> int:
        """One "resolved" to every receiver that was told of what this resolves (once: the id says so)."""
        rows = (await conn.execute(sa.select(told).where(told.c.opened_by == opened_by))).all()
        facts, fp = facts_of(event), fingerprint(event)
        for r in rows:
            nid = notification_id(r.route, r.receiver, f"resolved:{opened_by}")
            p = Planned(nid, r.route, r.receiver, f"resolved:{opened_by}", "resolved", 0, 0, 0, None)
            row = _row(p, event, cloud_event, facts, fp, now, now)
            await conn.execute(insert(notifications).values(row).on_conflict_do_nothing())
        return len(rows)


def _row(
    p: Planned, event: Event, cloud_event: dict, facts: Facts, fp: str, now: dt.datetime, due: dt.datetime
) -> dict[str, Any]:
    return {
        "notification_id": p.notification_id,
        "route": p.route,
        "receiver": p.receiver,
        "group_key": p.group_key,
        "kind": p.kind,
        "fingerprint": fp,
        "events": [cloud_event],
        "event_ids": [event.id],
        "facts": facts.as_dict(),
        "entity": facts.entity,
        "first_stored_at": event.time,
        "created_at": now,
        "due_at": due,
        "next_attempt_at": due,
        "status": "pending",
        "attempts": 0,
    }


def _cloud_event(event: Event) -> dict[str, Any]:
    return msgspec.json.decode(encode_event(event))


class Segment:
    """Events of a batch planned together: the groups they touch read in one query, their rows written in one
    statement each — per event and receiver a statement of its own kept the planner behind at 100 alerts/s."""

    def __init__(self, now: dt.datetime) -> None:
        self.now = now
        self.items: list[tuple[Event, dict[str, Any], Planned]] = []

    def add(self, event: Event, planned: list[Planned]) -> None:
        if planned:
            cloud_event = _cloud_event(event)
            self.items += [(event, cloud_event, p) for p in planned]

    async def write(self, conn: AsyncConnection) -> int:
        """Join each event to its group's notification still waiting, or open one; say which told whom."""
        if not self.items:
            return 0
        groups = await self._last_of_groups(conn)
        new: dict[str, dict[str, Any]] = {}
        joined: dict[str, list[tuple[str, dict[str, Any]]]] = {}
        told_rows = []
        for event, cloud_event, p in self.items:
            key = (p.route, p.receiver, p.group_key)
            last = groups.get(key)
            if last is not None and _waiting(last, p, self.now):
                nid = last["notification_id"]
                if nid in new:
                    new[nid]["events"].append(cloud_event)
                    new[nid]["event_ids"].append(event.id)
                else:
                    joined.setdefault(nid, []).append((event.id, cloud_event))
            else:
                nid = p.notification_id
                fp = fingerprint(event)
                row = _row(p, event, cloud_event, facts_of(event), fp, self.now, _due(last, p, fp, self.now))
                new[nid] = groups[key] = row
            if opens(event):
                told_rows.append({"opened_by": event.id, "route": p.route, "receiver": p.receiver,
                                  "notification_id": nid})  # fmt: skip
        if new:
            await conn.execute(insert(notifications).on_conflict_do_nothing(), list(new.values()))
        n = notifications.c
        for nid, added in joined.items():
            ids, events = [i for i, _ in added], [e for _, e in added]
            await conn.execute(
                notifications.update()
                .where(n.notification_id == nid)
                .values(events=n.events.op("||")(sa.cast(events, n.events.type)),
                        event_ids=n.event_ids.op("||")(sa.cast(ids, n.event_ids.type)))
            )  # fmt: skip
        if told_rows:
            await conn.execute(insert(told).on_conflict_do_nothing(), told_rows)
        return len(new)

    async def _last_of_groups(self, conn: AsyncConnection) -> dict[tuple[str, str, str], dict[str, Any]]:
        n = notifications.c
        keys = list({(p.route, p.receiver, p.group_key) for _, _, p in self.items})
        query = (
            sa.select(n.notification_id, n.route, n.receiver, n.group_key, n.status, n.attempts, n.due_at,
                      n.created_at, n.fingerprint, n.kind)
            .ext(distinct_on(n.route, n.receiver, n.group_key))
            .where(sa.tuple_(n.route, n.receiver, n.group_key).in_(keys))
            .order_by(n.route, n.receiver, n.group_key, n.seq.desc())
        )  # fmt: skip
        rows = (await conn.execute(query)).mappings()
        return {(r["route"], r["receiver"], r["group_key"]): dict(r) for r in rows}


def _waiting(last: dict[str, Any], p: Planned, now: dt.datetime) -> bool:
    """Whether the group's last notification still waits (never attempted, not yet due): an event joins it."""
    return last["status"] == "pending" and last["attempts"] == 0 and last["due_at"] > now and last["kind"] == p.kind


def _due(last: dict[str, Any] | None, p: Planned, fp: str, now: dt.datetime) -> dt.datetime:
    """When a new notification of this group may go: after group_wait, and not before group_interval (or, when
    it tells the same state again, repeat_interval) since the group's last one; then past quiet hours."""
    due = now + dt.timedelta(seconds=p.group_wait_s)
    if last is not None:
        gap = p.repeat_interval_s if last["fingerprint"] == fp else p.group_interval_s
        due = max(due, last["created_at"] + dt.timedelta(seconds=gap))
    return after_quiet_hours(due, p.quiet_hours)
