"""The reactor engine: follows each coupling's sources from a durable position and publishes what it emits.

Per (coupling, stream) a position lives in `vsmesh_reactors.positions`. A batch is handled as:

1. decode the source events, ask the coupling what to emit, give each emission its derived id;
2. drop ids already in `vsmesh_reactors.emitted` (published and committed before);
3. publish the rest and wait for their acknowledgements;
4. in one transaction: record the emitted ids and move the position past the batch.

A crash before 4 re-reads the batch and derives the same ids: JetStream drops them within its duplicate
window, and after a restart the emissions are also checked against the stream's last message on their
subject until one is found not stored, so an emission older than the window is not stored twice either.
Nothing is skipped, because the position moves only after the acknowledgements. The `emitted` table is
also the index `vsmesh trace` reads (each row names its cause). Projector rebuilds never touch any of this.

A batch that emits nothing skips 4: its position is kept in memory (status and /metrics show it) and
stored with the next emission, by a saver every `VSMESH_REACTOR_SAVE_EVERY_S`, and at stop. Most batches
are such (most events are of no concern to a coupling), and their transaction was most of a coupling's
cost on the live path. A crash re-reads them: they emit nothing again (a reaction is a function of its
cause and of what hubs answer; what was seen or known stays so), and the first emission after them is
still checked against the stream as above.
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
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.errors import Error as NatsError
from nats.js import JetStreamContext
from nats.js.errors import APIError
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncEngine

from vsmesh.bus.contract_client import ask
from vsmesh.bus.publisher import Publisher
from vsmesh.bus.quarantine import Rejected, quarantine
from vsmesh.bus.reader import stream_sequence
from vsmesh.bus.streams import stream_for
from vsmesh.bus.subjects import event_subject
from vsmesh.errors import ConfigError, ContractUnavailable, MeshNotRunning, PublishError
from vsmesh.events.envelope import Event
from vsmesh.projectors.couplings.coupling import Coupling, Emit, derived_id
from vsmesh.projectors.couplings.saver import LazyPosition
from vsmesh.projectors.engine.batches import hub_lock_key
from vsmesh.projectors.engine.source import Follow, decode, follow, retry
from vsmesh.settings import Settings

log = structlog.get_logger(__name__)

# Every batch ends in a transaction that moves the position, emissions or not: catching up on ops-hub's events,
# small batches spent most of the coupling's time committing (docs/performance.md §Couplings).
# At the head a batch goes at once whatever its size, so the size costs live reactions nothing.
FOLLOW = Follow(size=1000, wait_s=0.005, max_queued=4000)
# What a reaction may raise that is not about its cause (a server away or slow): the batch is tried again.
# Anything else it raises is about the cause, and retrying would stall the coupling for good: that cause is
# quarantined instead.
TRANSIENT: tuple[type[BaseException], ...] = (
    MeshNotRunning,
    PublishError,
    ConnectionError,
    TimeoutError,
    OSError,
    NatsError,
    sa.exc.OperationalError,
    sa.exc.InterfaceError,
    ContractUnavailable,
)

SCHEMA = "vsmesh_reactors"
metadata = sa.MetaData(schema=SCHEMA)

positions = sa.Table(
    "positions",
    metadata,
    sa.Column("coupling", sa.Text, primary_key=True),
    sa.Column("stream", sa.Text, primary_key=True),
    sa.Column("seq", sa.BigInteger, nullable=False),
    sa.Column("emitted", sa.BigInteger, nullable=False, server_default="0"),
    sa.Column("updated_at", sa.TIMESTAMP(timezone=True)),
    sa.Column("last_error", sa.Text),
    sa.Column("error_at", sa.TIMESTAMP(timezone=True)),
)

# One row per emitted event, with its cause: the idempotency guard and the causation index of `vsmesh trace`.
emitted = sa.Table(
    "emitted",
    metadata,
    sa.Column("event_id", sa.Text, primary_key=True),
    sa.Column("coupling", sa.Text, nullable=False),
    sa.Column("correlation_id", sa.Text, nullable=False, index=True),
    sa.Column("type", sa.Text, nullable=False),
    sa.Column("hub", sa.Text, nullable=False),
    sa.Column("subject", sa.Text),
    sa.Column("time", sa.TIMESTAMP(timezone=True), nullable=False),
    sa.Column("stream", sa.Text, nullable=False),
    sa.Column("seq", sa.BigInteger),
    sa.Column("cause_id", sa.Text, nullable=False, index=True),
    sa.Column("cause_type", sa.Text, nullable=False),
    sa.Column("cause_hub", sa.Text, nullable=False),
    sa.Column("cause_subject", sa.Text),
    sa.Column("cause_time", sa.TIMESTAMP(timezone=True), nullable=False),
    sa.Column("cause_stream", sa.Text, nullable=False),
    sa.Column("cause_seq", sa.BigInteger, nullable=False),
    sa.Column("cause_correlation_id", sa.Text),
)


async def ensure_tables(engine: AsyncEngine) -> None:
    async with engine.begin() as conn:
        # Two `vsmesh up` starting side by side (partitions shared between processes) both created the schema:
        # `IF NOT EXISTS` is no guard against a concurrent creator (a unique violation in pg_namespace).
        await conn.execute(sa.select(sa.func.pg_advisory_xact_lock(hub_lock_key(f"schema:{SCHEMA}"))))
        await conn.execute(sa.text(f"CREATE SCHEMA IF NOT EXISTS {SCHEMA}"))
        await conn.run_sync(metadata.create_all)


@dataclass
class ReactorStats:
    """What a running coupling reports: positions per stream, emissions, and its last error."""

    coupling: str
    positions: dict[str, int] = field(default_factory=dict)
    emitted: int = 0
    rejected: int = 0  # causes quarantined: not valid events, or a reaction that failed on them
    last_error: str | None = None


@dataclass
class _Context:
    """The `Context` a reaction sees for one source event."""

    nc: Client
    engine: AsyncEngine
    stream: str
    seq: int
    batch: dict[str, dict[str, Any]]  # emissions of the batch at hand, not committed yet

    async def ask(self, hub: str, operation: str, request: dict[str, Any]) -> Any:
        return await ask(self.nc, hub, operation, request)

    async def emitted(self, event_id: str) -> dict[str, Any] | None:
        if event_id in self.batch:
            return self.batch[event_id]
        async with self.engine.connect() as conn:
            row = (await conn.execute(sa.select(emitted).where(emitted.c.event_id == event_id))).mappings().first()
        return dict(row) if row else None


class Reactor:
    """One coupling following one stream."""

    def __init__(
        self, nc: Client, engine: AsyncEngine, settings: Settings, coupling: Coupling, stream: str, stats: ReactorStats
    ) -> None:
        self.nc, self.js, self.engine = nc, nc.jetstream(), engine
        self.coupling, self.stream, self.stats = coupling, stream, stats
        self.publisher = Publisher(self.js, settings, source=f"vsmesh/couplings/{coupling.name}")
        # Until an emission is found not yet stored: those after the stored position may have been published
        # before a crash (the batches that emitted nothing since are not stored).
        self.recovering = True
        self.log = log.bind(coupling=coupling.name, stream=stream)
        # The saver stores a position alone, and leaves the error a failing batch recorded in place.
        self.saved = LazyPosition(lambda seq: self._commit([], seq, handled=False), settings.reactor_save_every_s)
        self._failed = False  # the stored row names an error: the next batch clears it at once

    async def run(self, stop: asyncio.Event) -> None:
        position = await self._position()
        self.saved.reset(position)
        self.stats.positions[self.stream] = position
        self.log.info("reactor following", position=position)
        subject = self.coupling.sources[self.stream]
        async with self.saved.kept(stop, self.log):
            async for batch in follow(self.js, self.stream, subject, position, FOLLOW, stop):
                # handle() quarantines what is wrong with a cause itself; whatever else fails is retried.
                await retry(lambda b=batch: self.handle(b.msgs), stop=stop, transient=(Exception,),
                            on_error=self._report)  # fmt: skip

    async def _position(self) -> int:
        query = sa.select(positions.c.seq).where(
            positions.c.coupling == self.coupling.name, positions.c.stream == self.stream
        )
        async with self.engine.connect() as conn:
            return (await conn.execute(query)).scalar_one_or_none() or 0

    async def _report(self, e: BaseException) -> None:
        """A transient failure: reported (status, log), and the same batch is tried again; never skipped."""
        error = f"{type(e).__name__}: {e}".splitlines()[0][:500]
        self.stats.last_error = error
        self._failed = True
        self.log.error("reactor failed; batch will be retried", error=error)
        with contextlib.suppress(Exception):
            await self._record_error(error)

    async def handle(self, batch: list[Msg]) -> None:
        rows: list[dict[str, Any]] = []
        pending: list[tuple[Event, dict[str, Any]]] = []
        in_batch: dict[str, dict[str, Any]] = {}
        decoded = decode(batch, types=self.coupling.types)
        rejected = decoded.rejected  # the source hub's projector quarantines these too: one copy is kept
        for seq, msg, cause in decoded.events:
            ctx = _Context(self.nc, self.engine, self.stream, seq, in_batch)
            try:
                emits = await self.coupling.reactions(cause, ctx)
                built = [(self._build(cause, emit), emit) for emit in emits]
            except TRANSIENT:
                raise
            except Exception as e:  # noqa: BLE001 - a reaction that fails on this cause would stall the coupling
                reason = f"coupling {self.coupling.name} failed on it: {type(e).__name__}: {e}"
                self.log.warning("cause quarantined", sequence=seq, event_id=cause.id, reason=reason)
                rejected.append(Rejected(msg, reason, event_id=cause.id))
                continue
            for event, _ in built:
                row = _row(self.coupling.name, event, cause, self.stream, seq)
                pending.append((event, row))
                in_batch[event.id] = row
        if rejected:
            await quarantine(self.js, rejected, found_by=f"coupling:{self.coupling.name}")
            self.stats.rejected += len(rejected)
        done = await self._already_emitted([e.id for e, _ in pending])
        fresh = False  # an emission not stored before: what a crash left lies behind it
        for event, row in pending:
            if event.id in done:
                continue
            if self.recovering and await self._in_stream(event):
                row["seq"] = None  # stored before a crash; its sequence is not worth a lookup
            else:
                fresh = True
                published = await self.publisher.publish(event)
                row["seq"] = published.sequence
            rows.append(row)
        if fresh:
            self.recovering = False
        last = stream_sequence(batch[-1])
        if rows or rejected or self._failed or self.saved.due():
            async with self.saved.writing(last):
                await self._commit(rows, last)
            self._failed = False
        else:
            self.saved.passed(last)
        self.stats.positions[self.stream] = last
        self.stats.emitted += len(rows)
        self.stats.last_error = None

    def _build(self, cause: Event, emit: Emit) -> Event:
        if emit.type not in self.coupling.emitted_types:
            raise ConfigError(
                f"coupling {self.coupling.name} emitted {emit.type}, which it does not declare; add its class to emits"
            )
        event = self.publisher.build(
            emit.type,
            hub=emit.hub,
            subject=emit.subject,
            data=emit.data,
            event_id=derived_id(self.coupling.name, cause.id, emit.key),
            correlation_id=emit.correlation_id or cause.correlationid or cause.id,
            causation_id=cause.id,
        )
        return msgspec.structs.replace(event, actor=f"coupling:{self.coupling.name}", actorkind="service")

    async def _already_emitted(self, ids: list[str]) -> set[str]:
        if not ids:
            return set()
        async with self.engine.connect() as conn:
            return set((await conn.execute(sa.select(emitted.c.event_id).where(emitted.c.event_id.in_(ids)))).scalars())

    async def _in_stream(self, event: Event) -> bool:
        """Whether the last message on the event's exact subject is this event (published before a crash)."""
        horizon = type(event).horizon
        subject = event_subject(horizon, event.hub, event.type, event.subject)
        try:
            msg = await self.js.get_last_msg(stream_for(horizon), subject)
        except APIError:
            return False
        return bool(msg.headers and msg.headers.get("Nats-Msg-Id") == event.id)

    async def _commit(self, rows: list[dict[str, Any]], seq: int, *, handled: bool = True) -> None:
        """The emitted rows and the position, in one transaction; `handled`: a batch succeeded (its error goes)."""
        now = dt.datetime.now(dt.UTC)
        async with self.engine.begin() as conn:
            if rows:
                await conn.execute(insert(emitted).values(rows).on_conflict_do_nothing())
            stmt = insert(positions).values(
                coupling=self.coupling.name, stream=self.stream, seq=seq, emitted=len(rows), updated_at=now
            )
            await conn.execute(
                stmt.on_conflict_do_update(
                    index_elements=[positions.c.coupling, positions.c.stream],
                    set_={"seq": seq, "emitted": positions.c.emitted + len(rows), "updated_at": now}
                    | ({"last_error": None} if handled else {}),
                )
            )

    async def _record_error(self, error: str) -> None:
        now = dt.datetime.now(dt.UTC)
        stmt = insert(positions).values(
            coupling=self.coupling.name, stream=self.stream, seq=0, last_error=error, error_at=now
        )
        async with self.engine.begin() as conn:
            await conn.execute(
                stmt.on_conflict_do_update(
                    index_elements=[positions.c.coupling, positions.c.stream],
                    set_={"last_error": error, "error_at": now},
                )
            )


def _row(coupling: str, event: Event, cause: Event, cause_stream: str, cause_seq: int) -> dict[str, Any]:
    return {
        "event_id": event.id,
        "coupling": coupling,
        "correlation_id": event.correlationid,
        "type": event.type,
        "hub": event.hub,
        "subject": event.subject,
        "time": event.time,
        "stream": stream_for(type(event).horizon),
        "cause_id": cause.id,
        "cause_type": cause.type,
        "cause_hub": cause.hub,
        "cause_subject": cause.subject,
        "cause_time": cause.time,
        "cause_stream": cause_stream,
        "cause_seq": cause_seq,
        "cause_correlation_id": cause.correlationid,
    }


def start_reactors(
    nc: Client, engine: AsyncEngine, settings: Settings, couplings: list[Coupling], stop: asyncio.Event
) -> tuple[list[asyncio.Task], list[ReactorStats]]:
    """One task per (coupling, stream); a failing one reports and retries without stopping the others."""
    tasks, stats = [], []
    for coupling in couplings:
        s = ReactorStats(coupling.name)
        stats.append(s)
        for stream in coupling.sources:
            reactor = Reactor(nc, engine, settings, coupling, stream, s)
            tasks.append(asyncio.create_task(reactor.run(stop), name=f"reactor:{coupling.name}:{stream}"))
    return tasks, stats


async def lag(js: JetStreamContext, coupling: Coupling, at: dict[str, int]) -> int:
    """Source events stored past the coupling's positions."""
    from vsmesh.bus.reader import count_pending

    return sum(
        [await count_pending(js, stream, subject, at.get(stream, 0)) for stream, subject in coupling.sources.items()]
    )
