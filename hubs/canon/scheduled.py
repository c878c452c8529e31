"""canon's timed checks, a job of canon-hub's (hubs/hub.py `Job`, run by `vsmesh up`): the checks canon's policies
declare, run by one process per deployment.

A pass asks canon-hub for its policies in force (hubs/canon/values.py), asks fin-hub and canon-hub for what the
checks judge, decides (hubs/canon/checks.py), asks the hubs which of the decided ids they already hold, and
publishes only the others as the service `vsmesh-scheduler`. Ids derive from what each event is about, so a
restart, a second scheduler or a pass racing another never doubles an alert: what the hubs hold is skipped, and
JetStream drops a twin by its `Nats-Msg-Id`. The job runs every `VSMESH_CHECKS_EVERY_S` seconds and soon after
fin-hub or canon-hub applied events, so spend that crosses a budget's share alerts within a second or two.

Each check's last run and result is kept in the KV bucket `vsmesh-checks` for `vsmesh status`.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import time
from collections import Counter
from collections.abc import Callable

import msgspec
import structlog
from nats.aio.client import Client
from nats.errors import Error as NatsError
from nats.js import JetStreamContext
from nats.js.api import KeyValueConfig, StorageType
from nats.js.errors import BucketNotFoundError
from nats.js.kv import KeyValue

from vsmesh.bus.buckets import open_bucket
from vsmesh.bus.contract_client import ask
from vsmesh.bus.publisher import Publisher
from vsmesh.errors import VsmeshError
from vsmesh.events.envelope import utc_now
from vsmesh.events.registry import REGISTRY
from vsmesh.hubs import declared_types, is_coded
from vsmesh.hubs.canon import checks
from vsmesh.hubs.canon.values import CheckValues, check_values
from vsmesh.hubs.hub import Job, JobContext
from vsmesh.settings import Settings

log = structlog.get_logger(__name__)

STATUS_BUCKET = "vsmesh-checks"
ACTOR = "vsmesh-scheduler"
WATCHED = ("fin-hub", "canon-hub")  # the hubs whose changes can change a check's outcome
ASK_TIMEOUT_S = 10.0


class CheckStatus(msgspec.Struct, frozen=True, kw_only=True):
    """One check's last run, as `vsmesh status` shows it."""

    check: str
    ran_at: float  # unix time
    ok: bool
    ran: bool  # False: canon declares no value for it
    result: str
    published: int = 0
    present: int = 0  # decided, but the hubs (or the stream) held them already
    error: str | None = None
    holder: str = ""


def hub_horizon(slug: str | None) -> str | None:
    """The horizon most of a coded hub's own event types live in (ops-hub: operational); None when unknown."""
    if not slug or not is_coded(slug):
        return None
    horizons = Counter(str(REGISTRY[t].horizon) for t in declared_types(slug) if t in REGISTRY)
    return horizons.most_common(1)[0][0] if horizons else None


async def status_bucket(js: JetStreamContext, *, replicas: int = 1) -> KeyValue:
    config = KeyValueConfig(bucket=STATUS_BUCKET, history=1, storage=StorageType.FILE, replicas=replicas)
    found = await open_bucket(js, config)
    assert found is not None  # made when missing
    return found


async def read_statuses(js: JetStreamContext) -> list[CheckStatus]:
    """Every check's last run (empty when no scheduler ever ran)."""
    try:
        kv = await js.key_value(STATUS_BUCKET)
    except BucketNotFoundError:
        return []
    found = []
    for name in checks.CHECKS:
        with contextlib.suppress(NatsError):
            entry = await kv.get(name)
            if entry.value:
                found.append(msgspec.json.decode(entry.value, type=CheckStatus))
    return found


class Checks:
    """One pass over every check; `now` is injected (tests judge SLAs hours ahead without waiting)."""

    def __init__(self, nc: Client, settings: Settings, *, holder: str = "") -> None:
        self.nc = nc
        as_scheduler = settings.model_copy(update={"actor": ACTOR, "actor_kind": "service"})
        self.publisher = Publisher(nc.jetstream(), as_scheduler, source="vsmesh/scheduler")
        self.holder = holder

    async def _ask(self, hub: str, operation: str, request: dict | None = None) -> dict:
        return await ask(self.nc, hub, operation, request or {}, timeout=ASK_TIMEOUT_S)

    async def run(self, now: dt.datetime | None = None) -> list[CheckStatus]:
        """Decide and publish every check once; a check that fails is reported, the others still run."""
        now = now or utc_now()
        started = time.time()
        try:
            values = check_values((await self._ask("canon-hub", "get_policies"))["policies"])
        except (VsmeshError, NatsError, TimeoutError) as e:
            return [self._failed(c, started, e) for c in checks.CHECKS]
        if values.ignored:
            log.warning("canon policy values not read", ignored=list(values.ignored))
        found = []
        for name, decide in self._deciders(values, now).items():
            try:
                decision = await decide()
                published, present = await self._publish(decision.planned)
            except Exception as e:  # noqa: BLE001 - one check's fault stops no other; status shows it, next pass retries
                found.append(self._failed(name, started, e))
                continue
            if published:
                log.info("check published", check=name, published=published, result=decision.result)
            found.append(
                CheckStatus(
                    check=name,
                    ran_at=started,
                    ok=True,
                    ran=decision.ran,
                    result=decision.result,
                    published=published,
                    present=present,
                    holder=self.holder,
                )  # fmt: skip
            )
        return found

    def _deciders(self, values: CheckValues, now: dt.datetime) -> dict[str, Callable]:
        async def budgets() -> checks.Decision:
            if values.budget_alert_pct is None:
                return checks.budget_alerts(values, [])
            request = {"alert_pct": str(values.budget_alert_pct.value)}
            return checks.budget_alerts(values, (await self._ask("fin-hub", "get_budgets", request))["budgets"])

        async def runway() -> checks.Decision:
            if values.runway_check_every_s is None:
                return checks.runway(values, [], now)
            request = {"as_of": now.date().isoformat()}
            if values.runway_alert_months is not None:
                request["alert_threshold_months"] = float(values.runway_alert_months.value)
            return checks.runway(values, (await self._ask("fin-hub", "get_runways", request))["runways"], now)

        async def agent_spend() -> checks.Decision:
            if not values.agent_spend_threshold:
                return checks.agent_spend(values, [])
            return checks.agent_spend(values, (await self._ask("fin-hub", "get_agent_spend"))["agent_spend"])

        async def slas() -> checks.Decision:
            if not values.escalation_sla_s:
                return checks.escalation_sla(values, [], now, hub_horizon)
            answer = await self._ask("canon-hub", "get_escalations", {"status": "raised", "limit": 1000})
            return checks.escalation_sla(values, answer["escalations"], now, hub_horizon)

        return {checks.BUDGET: budgets, checks.RUNWAY: runway, checks.AGENT_SPEND: agent_spend,
                checks.ESCALATION_SLA: slas}  # fmt: skip

    async def _publish(self, planned: list[checks.Planned]) -> tuple[int, int]:
        """Publish what the hubs do not hold yet; (published, already there)."""
        if not planned:
            return 0, 0
        known: set[str] = set()
        for hub in {p.hub for p in planned}:
            ids = [p.event_id for p in planned if p.hub == hub]
            known |= set((await self._ask(hub, "known_events", {"ids": ids}))["known"])
        published = present = 0
        for p in planned:
            if p.event_id in known:
                present += 1
                continue
            event = self.publisher.build(p.type, hub=p.hub, subject=p.subject, data=p.data, event_id=p.event_id,
                                         causation_id=p.causation_id)  # fmt: skip
            stored = await self.publisher.publish(event)
            published += not stored.duplicate
            present += stored.duplicate
        return published, present

    def _failed(self, name: str, started: float, error: Exception) -> CheckStatus:
        text = str(error) or repr(error)
        log.warning("check failed; next pass retries", check=name, error=text)
        return CheckStatus(check=name, ran_at=started, ok=False, ran=True, result="", error=text, holder=self.holder)


async def run_checks(ctx: JobContext) -> None:
    """One pass of every check, its statuses kept for `vsmesh status`."""
    if "statuses" not in ctx.state:
        ctx.state["statuses"] = await status_bucket(ctx.nc.jetstream(), replicas=ctx.replicas)
    statuses = ctx.state["statuses"]
    for status in await Checks(ctx.nc, ctx.settings, holder=ctx.holder).run():
        with contextlib.suppress(NatsError, TimeoutError):
            await statuses.put(status.check, msgspec.json.encode(status))


JOBS = (Job("checks", run_checks, every_s=lambda settings: settings.checks_every_s, wake_on=WATCHED),)
