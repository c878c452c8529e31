"""The scheduler inside `vsmesh up` (hubs/canon/scheduled.py, a timed job): canon's policy values drive timed checks.

Against the session's `vsmesh up`, whose scheduler holds the lease. Each test declares its values in a policy
of its own and withdraws them at the end (a later version without values), and uses a currency and names no
other test uses, so the checks it drives touch nothing else.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from vsmesh.bus.connection import connect
from vsmesh.bus.contract_client import ask
from vsmesh.bus.publisher import Publisher
from vsmesh.bus.reader import Start, StreamReader
from vsmesh.bus.streams import ensure_streams
from vsmesh.bus.subjects import event_subject
from vsmesh.events.envelope import utc_now
from vsmesh.hubs import hub
from vsmesh.hubs.canon import checks
from vsmesh.hubs.canon.scheduled import Checks, run_checks
from vsmesh.hubs.contract import HubContext, start_contract
from vsmesh.hubs.hub import JobContext
from vsmesh.projectors.engine.batches import ensure_schema
from vsmesh.projectors.engine.database import create_engine
from vsmesh.runtime.contract_thread import ContractThread

pytestmark = pytest.mark.usefixtures("running_mesh")


def currency() -> str:
    """A made-up currency code no other test uses, so no other test's money meets these thresholds."""
    return "".join(chr(ord("A") + b % 26) for b in uuid.uuid4().bytes[:3])


async def until(check: Callable[[], Awaitable[Any]], what: str, timeout: float = 30.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if found := await check():
            return found
        await asyncio.sleep(0.1)
    pytest.fail(f"timed out after {timeout} s waiting for {what}")


async def publish(nc, settings, events: list[tuple[str, str, str | None, dict]], **actor: str) -> dict[str, int]:
    """Publish (type, hub, subject, data); the wait_for_seq that makes a read see them all."""
    publisher = Publisher(nc.jetstream(), settings.model_copy(update=actor) if actor else settings)
    built = [publisher.build(t, hub=h, subject=s, data=d) for t, h, s, d in events]
    wait: dict[str, int] = {}
    for stored in await publisher.publish_many(built):
        wait[stored.stream] = max(wait.get(stored.stream, 0), stored.sequence)
    return wait


async def declare(nc, settings, slug: str, version: str, values: dict) -> None:
    data = {"policy": slug, "title": "timed checks under test", "version": version, "metadata": {"values": values}}
    wait = await publish(nc, settings, [("canon-policy-declared", "canon-hub", f"policy/{slug}", data)])
    await ask(nc, "canon-hub", "get_policies", {"policy": slug, "wait_for_seq": wait})


async def stored(nc, stream: str, horizon: str, hub: str, event_type: str, entity: str) -> int:
    """How many events the stream holds on one entity's subject of a type: what a doubled alert would show."""
    subject = event_subject(horizon, hub, event_type, entity)
    info = await nc.jetstream().stream_info(stream, subjects_filter=subject)
    return (info.state.subjects or {}).get(subject, 0)


def money(amount: str, cur: str) -> dict[str, str]:
    return {"amount": amount, "currency": cur}


async def drive_the_checks(settings, tag: str, cur: str) -> dict[str, str]:
    nc = await connect(settings, name="test-scheduler")
    slug, domain, agent = f"checks-{tag}", f"checks-{tag}", f"spend-bot-{tag}"
    today = utc_now().date()
    month = today.strftime("%Y-%m")
    values = {"budget_alert_pct": 90, "runway_alert_months": 6, "runway_check_every": "1d",
              "agent_spend_threshold": money("100", cur), "escalation_sla": {"strategic": "14d"}}  # fmt: skip
    try:
        await declare(nc, settings, slug, "1", values)
        # A budget 95 % spent, a balance that lasts about 30 months, and an agent's 115 of tokens this month:
        # nobody publishes an alert, a projection or an escalation.
        await publish(nc, settings, [
            ("fin-budget-allocated", "fin-hub", f"domain/{domain}", {"domain": domain, "period": month,
                                                                     "amount": money("200", cur)}),
            ("fin-cost-recorded", "fin-hub", None, {"amount": money("190", cur), "domain": domain, "period": month}),
            ("fin-balance-recorded", "fin-hub", "account/main", {"balance": money("10000", cur),
                                                                 "as_of": today.isoformat()}),
        ])  # fmt: skip
        spend = {"provider": "anthropic", "model": "m", "tokens_in": 1, "tokens_out": 1}
        tokens = [
            ("fin-token-spend-recorded", "fin-hub", "model/m", {**spend, "cost": money(a, cur)})
            for a in "60 55".split()
        ]
        await publish(nc, settings, tokens, actor=agent, actor_kind="agent")

        async def alerted() -> str | None:
            budgets = (await ask(nc, "fin-hub", "get_budgets", {"domain": domain}))["budgets"]
            return budgets[0]["alert_event_id"] if budgets else None

        alert_id = await until(alerted, "the budget alert")
        runway_id = checks.check_id(checks.RUNWAY, cur, checks.slot_start(utc_now(), 86400).isoformat())
        escalation_id = checks.check_id(checks.AGENT_SPEND, agent, month, cur)

        async def known(hub: str, event_id: str) -> bool:
            return event_id in (await ask(nc, hub, "known_events", {"ids": [event_id]}))["known"]

        await until(lambda: known("fin-hub", runway_id), "the runway check")
        await until(lambda: known("canon-hub", escalation_id), "the agent-spend escalation")
        [escalation] = [e for e in (await ask(nc, "canon-hub", "get_escalations", {}))["escalations"]
                        if e["escalation_id"] == escalation_id]  # fmt: skip
        assert agent in escalation["title"] and slug in escalation["title"] and "115" in escalation["title"]
        assert escalation["horizon"] is None and escalation["from_hub"] == "fin-hub"

        # A restart, or a second scheduler, running at the same moment as the mesh's own: nothing doubles.
        await asyncio.gather(Checks(nc, settings).run(), Checks(nc, settings).run())
        counts = [
            await stored(nc, "STRATEGIC", "strategic", "fin-hub", "fin-budget-alert-raised", f"domain/{domain}"),
            await stored(nc, "STRATEGIC", "strategic", "fin-hub", "fin-runway-projected", f"runway/{cur}"),
            await stored(nc, "CONSTITUTIONAL", "constitutional", "canon-hub", "canon-escalation-raised",
                         f"agent/{agent}"),
        ]  # fmt: skip
        assert counts == [1, 1, 1]

        # Two passes racing: both heard from fin-hub that it does not hold the runway projection before either
        # published it. Their clock is two days ahead, a slot the mesh's own scheduler has not reached.
        ahead = utc_now() + dt.timedelta(days=2)
        twin = checks.check_id(checks.RUNWAY, cur, checks.slot_start(ahead, 86400).isoformat())
        barrier = asyncio.Barrier(2)
        racing = [RacingPass(nc, settings, barrier, twin) for _ in range(2)]
        async with asyncio.timeout(60):
            await asyncio.gather(*(p.run(now=ahead) for p in racing))
        assert [p.saw_it_unknown for p in racing] == [True, True]  # so each published it
        # JetStream dropped the twin by its Nats-Msg-Id: the stream holds the projection once.
        subject = event_subject("strategic", "fin-hub", "fin-runway-projected", f"runway/{cur}")
        assert (await ids_on(nc, "STRATEGIC", subject)).count(twin) == 1
        return {"alert": alert_id, "runway": runway_id}
    finally:
        await nc.close()


class RacingPass(Checks):
    """A scheduler pass of the runway check alone that, once fin-hub said whether it holds `twin`, waits at the
    barrier until the other pass heard the same: both decide before either publishes."""

    def __init__(self, nc, settings, barrier: asyncio.Barrier, twin: str) -> None:
        super().__init__(nc, settings)
        self.barrier, self.twin = barrier, twin
        self.saw_it_unknown: bool | None = None

    def _deciders(self, values, now: dt.datetime) -> dict[str, Callable]:
        return {checks.RUNWAY: super()._deciders(values, now)[checks.RUNWAY]}

    async def _ask(self, hub: str, operation: str, request: dict | None = None) -> dict:
        answer = await super()._ask(hub, operation, request)
        if operation == "known_events" and self.twin in (request or {}).get("ids", ()):
            self.saw_it_unknown = self.twin not in answer["known"]
            await self.barrier.wait()
        return answer


async def ids_on(nc, stream: str, subject: str) -> list[str]:
    """The ids of every event stored on one subject."""
    async with StreamReader(nc.jetstream(), stream, subject, Start()) as reader:
        return [json.loads(m.data)["id"] async for batch in reader.drain_to_head() for m in batch]


async def withdraw(settings, slug: str) -> None:
    """A later version without values: the session's scheduler checks nothing of this test's any more."""
    nc = await connect(settings, name="test-scheduler")
    try:
        await declare(nc, settings, slug, "2", {})
    finally:
        await nc.close()


def test_canon_values_drive_an_alert_a_runway_check_and_an_escalation_once(settings, cli):
    tag, cur = uuid.uuid4().hex[:6], currency()
    try:
        found = asyncio.run(drive_the_checks(settings, tag, cur))
        assert found["alert"] == checks.check_id(checks.BUDGET, f"checks-{tag}", utc_now().strftime("%Y-%m"), cur)
        # Each check's last run and result is in `vsmesh status`.
        answer = json.loads(cli("status", "--json").stdout)
        by_check = {c["check"]: c for c in answer["checks"]}
        assert set(by_check) == set(checks.CHECKS)
        assert all(c["ok"] and c["ran"] and c["ran_at"] and c["holder"] for c in by_check.values())
        # (another test's policy may declare a stricter share; the strictest wins and is named)
        assert "budgets" in by_check[checks.BUDGET]["result"] and "policy" in by_check[checks.BUDGET]["result"]
        shown = cli("status")
        assert "timed checks" in shown.stdout and "agent-spend" in shown.stdout
    finally:
        asyncio.run(withdraw(settings, f"checks-{tag}"))


async def outlive_the_sla(settings, tag: str) -> None:
    nc = await connect(settings, name="test-scheduler-sla")
    slug = f"slas-{tag}"
    try:
        await declare(nc, settings, slug, "1", {"escalation_sla": {"operational": "4h"}})
        issue = {"title": f"gitea down {tag}", "from_hub": "ops-hub", "subject": f"service/{tag}"}
        raised = await ask(nc, "canon-hub", "escalate_issue", issue)
        await ask(nc, "canon-hub", "get_escalations", {"wait_for_seq": {raised["stream"]: raised["seq"]}})
        checker = Checks(nc, settings)

        async def clock(hours_later: int) -> dict | None:
            """Run the checks as if `hours_later` had passed; the escalation's row once canon applied them."""
            await checker.run(now=utc_now() + dt.timedelta(hours=hours_later))
            rows = (await ask(nc, "canon-hub", "get_escalations", {"overdue": True}))["escalations"]
            return next((e for e in rows if e["escalation_id"] == raised["id"]), None)

        # Five hours unanswered: past the operational SLA, raised again once and shown as overdue.
        first = await until(lambda: clock(5), "the overdue escalation")
        assert first["overdue"] and first["re_escalations"] == 1
        await checker.run(now=utc_now() + dt.timedelta(hours=5))  # the same clock again adds nothing
        entity = f"service/{tag}"
        overdue = ("CONSTITUTIONAL", "constitutional", "canon-hub", "canon-escalation-overdue", entity)
        assert await stored(nc, *overdue) == 1
        summary = await ask(nc, "canon-hub", "get_domain_summary", {})
        [shown] = [e for e in summary["open_escalations"] if e["escalation_id"] == raised["id"]]
        assert shown["overdue"] is True

        # Nine hours: a second SLA has passed, so it is raised again.
        async def twice() -> bool:
            found = await clock(9)
            return bool(found and found["re_escalations"] == 2)

        await until(twice, "the second re-escalation")
        assert await stored(nc, *overdue) == 2
    finally:
        await declare(nc, settings, slug, "2", {})
        await nc.close()


def test_an_escalation_unanswered_past_its_horizons_sla_is_raised_again_and_overdue(settings):
    asyncio.run(outlive_the_sla(settings, uuid.uuid4().hex[:6]))


def test_a_check_no_policy_declares_does_not_run_and_vsmesh_status_says_so(mesh, fresh_database, cli_in, tmp_path):
    # A mesh of its own (nats-server, database), whose canon-hub holds no policy at all.
    settings = mesh.model_copy(update={"database_url": fresh_database})
    asyncio.run(a_pass_without_policies(settings))
    env = {"VSMESH_NATS_URL": settings.nats_url, "VSMESH_NATS_USER": "admin", "VSMESH_DATA_DIR": str(mesh.data_dir),
           "VSMESH_NATS_PASSWORD": settings.nats_password, "VSMESH_DATABASE_URL": fresh_database}  # fmt: skip
    shown = cli_in(env, tmp_path, "status")
    assert shown.exit_code == 0, shown.output
    declares = {checks.BUDGET: "budget_alert_pct", checks.RUNWAY: "runway_check_every",
                checks.AGENT_SPEND: "agent_spend_threshold", checks.ESCALATION_SLA: "escalation_sla"}  # fmt: skip
    results = check_results(shown.stdout)
    assert results == {c: f"not run: no canon policy in force declares {v}" for c, v in declares.items()}, results
    answer = json.loads(cli_in(env, tmp_path, "status", "--json").stdout)
    assert {c["check"]: c["ran"] for c in answer["checks"]} == dict.fromkeys(checks.CHECKS, False)


def check_results(printed: str) -> dict[str, str]:
    """Each check's result as the timed checks' table of `vsmesh status` shows it (a cell wrapped over lines)."""
    table = printed[printed.index("timed checks") :]
    results: dict[str, list[str]] = {}
    check = ""
    for line in table.splitlines():
        cells = [c.strip() for c in line.split("│")[1:-1]]
        if len(cells) == 3:
            check = cells[0] or check
            results.setdefault(check, []).append(cells[2])
    return {c: " ".join(words) for c, words in results.items()}


async def a_pass_without_policies(settings) -> None:
    """One run of canon-hub's checks job, as `vsmesh up` runs it, against canon-hub's contract."""
    nc, engine = await connect(settings, name="test-scheduler"), create_engine(settings)
    canon = hub("canon-hub")
    try:
        await ensure_streams(nc.jetstream())
        projection = canon.make_projection()
        await ensure_schema(engine, projection, projection.schema)

        async def start(contract_nc, contract_engine):
            ctx = HubContext("canon-hub", projection, contract_engine, contract_nc.jetstream(), settings)
            return await start_contract(contract_nc, ctx, canon.make_operations())

        async with ContractThread(settings, issue_creds=None) as contracts:
            await contracts.serve("canon-hub", start)
            await run_checks(JobContext(nc, settings, "canon-hub", holder="test"))
    finally:
        await engine.dispose()
        await nc.close()
