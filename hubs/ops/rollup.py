"""ops-hub's operational days rolled up to the tactical horizon, so their lasting meaning outlives the
OPERATIONAL stream's retention: per service and day, the health checks by status and their shares, the
incidents naming the service, and its change records (`rollup-service-day`).

Derived: a rollup is a function of its day's events alone — its id from the service and day, its time the
day's end — so deriving it again gives the same event. Before publishing, the job asks TACTICAL for the
rollup's own subject (one per service and day), and JetStream's message id catches a concurrent second
publisher, so a rerun, a restart or a second `vsmesh up` publishes nothing new.

Where it runs: a timed job of `vsmesh up` (runtime/supervisor.py), not a coupling. A coupling reacts to one
event and keeps nothing between events, while a day's rollup needs every event of the day and falls due when
the day closes, which no event announces. It reads OPERATIONAL with a consumer, which is mesh infrastructure
(the admin connection, like snapshots); a hub's contract user may only get single messages. `vsmesh streams
retention OPERATIONAL …` runs it before shortening the stream, so no closed day ages out unrolled.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import uuid
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field

import msgspec
import structlog
from nats.js import JetStreamContext
from nats.js.errors import NotFoundError

from vsmesh.bus.provenance import decode_stored
from vsmesh.bus.publisher import Publisher
from vsmesh.bus.reader import Start, StreamReader
from vsmesh.bus.subjects import event_subject
from vsmesh.errors import InvalidEvent
from vsmesh.events.envelope import Event
from vsmesh.events.schemas.ops import OpsChangeRecorded, OpsHealthChecked, OpsIncidentOpened
from vsmesh.hubs.hub import Job, JobContext
from vsmesh.hubs.ops import manifest
from vsmesh.settings import Settings

log = structlog.get_logger(__name__)

ROLLUP_TYPE = "rollup-service-day"
ACTOR = "vsmesh-rollup"  # the service identity rollups name as their actor
# Fixed forever: rollup ids derive from it, so a rollup derived again is the same event.
NAMESPACE = uuid.UUID("3d0c6a52-7b1e-5f4a-9e2d-8c7b6a5f4e3d")
EVERY_S = 3600.0  # days close once a day; an hour's delay costs nothing against a 90-day retention
LOOKBACK_DAYS = 2  # after the first run, each run reads only this many days back (earlier ones are done)


@dataclass
class Day:
    checks: Counter[str] = field(default_factory=Counter)
    incidents_opened: int = 0
    changes: int = 0


def fold_days(events: Iterable[Event], before: dt.date) -> dict[tuple[str, dt.date], Day]:
    """Each service's days before `before` (closed days), from ops-hub's operational events (pure)."""
    days: dict[tuple[str, dt.date], Day] = {}

    def day_of(service: str, event: Event) -> Day | None:
        day = event.time.astimezone(dt.UTC).date()
        return days.setdefault((service, day), Day()) if day < before else None

    for event in events:
        if isinstance(event, OpsHealthChecked | OpsChangeRecorded):
            service = _service(event.subject)
            found = day_of(service, event) if service else None
            if found is None:
                continue
            if isinstance(event, OpsHealthChecked):
                found.checks[event.data.status] += 1
            else:
                found.changes += 1
        elif isinstance(event, OpsIncidentOpened):
            for service in {s for s in map(_service, event.data.affected) if s}:
                found = day_of(service, event)
                if found is not None:
                    found.incidents_opened += 1
    return days


def derive(publisher: Publisher, days: dict[tuple[str, dt.date], Day]) -> list[Event]:
    """The rollup events of those days: the same days always give the same events (ids, times, data)."""
    out = []
    for (service, day), d in sorted(days.items()):
        total = sum(d.checks.values())
        data = {
            "service": service,
            "day": day.isoformat(),
            "checks": dict(sorted(d.checks.items())),
            "health_share": {s: round(n / total, 6) for s, n in sorted(d.checks.items())},
            "incidents_opened": d.incidents_opened,
            "changes": d.changes,
        }
        event = publisher.build(ROLLUP_TYPE, hub=manifest.SLUG, subject=entity(service, day), data=data,
                                event_id=rollup_id(service, day))  # fmt: skip
        end = dt.datetime.combine(day + dt.timedelta(days=1), dt.time(), tzinfo=dt.UTC)
        out.append(msgspec.structs.replace(event, time=end))
    return out


def rollup_id(service: str, day: dt.date) -> str:
    return str(uuid.uuid5(NAMESPACE, f"{service}/{day.isoformat()}"))


def entity(service: str, day: dt.date) -> str:
    return f"rollup/{service}/{day.isoformat()}"


async def roll_up(
    js: JetStreamContext,
    publisher: Publisher,
    *,
    stream: str = "OPERATIONAL",
    subject: str = f"operational.{manifest.SLUG}.>",
    since: dt.datetime | None = None,
    before: dt.date | None = None,
) -> list[str]:
    """Publish the rollups of closed days (before `before`, default today UTC) not published yet; their ids."""
    before = before or dt.datetime.now(dt.UTC).date()
    events = await _read(js, stream, subject, since)
    published = []
    for event in derive(publisher, fold_days(events, before)):
        if await _stored(js, event):
            continue
        await publisher.publish(event)
        published.append(event.id)
    if published:
        log.info("operational days rolled up to tactical", rollups=len(published), before=before.isoformat())
    return published


def rollup_publisher(js: JetStreamContext, settings: Settings) -> Publisher:
    return Publisher(js, settings.model_copy(update={"actor": ACTOR, "actor_kind": "service"}), source="vsmesh/rollup")


async def roll_up_job(ctx: JobContext) -> None:
    """Every closed day the first time this process runs it (catching up on days missed while down), then only the
    last LOOKBACK_DAYS: earlier days are done."""
    js = ctx.nc.jetstream()
    if "publisher" not in ctx.state:
        ctx.state["publisher"] = rollup_publisher(js, ctx.settings)
    await roll_up(js, ctx.state["publisher"], since=ctx.state.get("since"))
    midnight = dt.datetime.combine(dt.datetime.now(dt.UTC).date(), dt.time(), tzinfo=dt.UTC)
    ctx.state["since"] = midnight - dt.timedelta(days=LOOKBACK_DAYS)


JOBS = (Job("rollups", roll_up_job, every_s=EVERY_S),)


def _service(subject: str | None) -> str | None:
    kind, _, name = (subject or "").partition("/")
    return name if kind == "service" and name else None


async def _read(js: JetStreamContext, stream: str, subject: str, since: dt.datetime | None) -> list[Event]:
    found = []
    async with StreamReader(js, stream, subject, Start(at_time=since) if since else Start()) as reader:
        async for batch in reader.drain_to_head(1000):
            for msg in batch:
                with contextlib.suppress(InvalidEvent):  # quarantined on every read path; not the day's meaning
                    found.append(decode_stored(msg.data, msg.headers, msg.subject))
    return found


async def _stored(js: JetStreamContext, event: Event) -> bool:
    """Whether TACTICAL holds this rollup already (its subject is its own: one service and day)."""
    try:
        await js.get_last_msg("TACTICAL", event_subject("tactical", event.hub, event.type, event.subject))
    except NotFoundError:
        return False
    return True
