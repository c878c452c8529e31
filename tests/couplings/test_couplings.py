"""Couplings end to end on the session's real servers, with `vsmesh up` running every hub and reactor."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import time
import uuid

import pytest
import sqlalchemy as sa

from tests.conftest import wait_until
from tests.currencies import unique_currency
from tests.log_reads import heads, stored_since
from vsmesh.bus.connection import connect
from vsmesh.bus.publisher import Publisher
from vsmesh.events.schemas.core import MessageSent
from vsmesh.events.schemas.dev import DevDecisionRecorded
from vsmesh.hubs.coupling import active_couplings
from vsmesh.projectors.couplings.coupling import Coupling, Emit, derived_id
from vsmesh.projectors.couplings.reactor import ensure_tables, start_reactors
from vsmesh.projectors.engine.database import create_engine

pytestmark = pytest.mark.usefixtures("running_mesh")


async def publish(settings, event_type: str, hub: str, subject: str | None, data: dict) -> str:
    nc = await connect(settings, name="test-couplings")
    try:
        publisher = Publisher(nc.jetstream(), settings)
        stored = await publisher.publish(publisher.build(event_type, hub=hub, subject=subject, data=data))
        return stored.event_id
    finally:
        await nc.close()


async def rows(settings, query: str, **params) -> list[dict]:
    engine = create_engine(settings)
    try:
        async with engine.connect() as conn:
            return [dict(r) for r in (await conn.execute(sa.text(query), params)).mappings()]
    finally:
        await engine.dispose()


def pub(settings, event_type: str, hub: str, subject: str | None, data: dict) -> str:
    return asyncio.run(publish(settings, event_type, hub, subject, data))


def q(settings, query: str, **params) -> list[dict]:
    return asyncio.run(rows(settings, query, **params))


def tree_ids(node: dict) -> list[tuple[str, str]]:
    return [(node["hub"], node["type"])] + [pair for child in node["children"] for pair in tree_ids(child)]


def test_a_deployment_becomes_an_ops_change_record_and_release(settings, cli):
    service = f"svc-{uuid.uuid4().hex[:8]}"
    cause = pub(
        settings, "dev-deployment-completed", "dev-hub", f"deployment/{service}",
        {"service": service, "version": "1.4.2", "environment": "prod", "rollback_path": "helm rollback"},
    )  # fmt: skip
    # The ops change record carries the deployment as its cause, with the derived id.
    change_id = derived_id("dev-deployment-to-ops-change", cause)
    found = wait_until(
        lambda: q(settings, "SELECT * FROM ops_hub.change_records WHERE event_id = :id", id=change_id),
        what="the ops change record",
    )
    assert found[0]["entity"] == f"service/{service}"
    assert (found[0]["environment"], found[0]["version"], found[0]["change_kind"]) == ("prod", "1.4.2", "deployment")
    assert found[0]["actor"] == "coupling:dev-deployment-to-ops-change"
    # The release is observed as evidence on the service.
    wait_until(
        lambda: q(
            settings, "SELECT * FROM ops_hub.evidence WHERE entity = :e AND kind = 'release'", e=f"service/{service}"
        ),
        what="the release evidence",
    )
    # The trace shows the deployment with both of its effects, root first.
    answer = json.loads(cli("trace", change_id, "--json").stdout)
    (root,) = answer["roots"]
    assert root["id"] == cause and root["type"] == "dev-deployment-completed"
    assert sorted(c["type"] for c in root["children"]) == ["ops-change-recorded", "ops-release-observed"]


def test_an_incident_opens_and_clears_a_dev_blocker(settings, cli):
    service = f"api-{uuid.uuid4().hex[:8]}"
    # A low incident blocks nothing.
    low = pub(settings, "ops-incident-opened", "ops-hub", f"incident/{service}-low",
                        {"title": "slow", "severity": "low", "affected": [f"service/{service}"]})  # fmt: skip
    opened = pub(settings, "ops-incident-opened", "ops-hub", f"incident/{service}",
                           {"title": f"{service} down", "severity": "critical",
                  "affected": [f"service/{service}"]})  # fmt: skip
    blocker_id = derived_id("ops-incident-to-dev-blocker", opened)
    raised = wait_until(
        lambda: q(settings, "SELECT * FROM dev_hub.blockers WHERE blocker_id = :id", id=blocker_id),
        what="the dev blocker",
    )
    assert raised[0]["status"] == "raised" and raised[0]["cause_event_id"] == opened
    assert raised[0]["blocking"] == [f"repo/{service}"]
    assert not q(settings, "SELECT 1 FROM vsmesh_reactors.emitted WHERE cause_id = :id", id=low)
    # Resolving the incident clears the blocker.
    resolved = pub(settings, "ops-incident-resolved", "ops-hub", f"incident/{service}",
                             {"incident_id": opened, "resolution": "restarted"})  # fmt: skip
    wait_until(
        lambda: q(settings, "SELECT 1 FROM dev_hub.blockers WHERE blocker_id = :id AND status = 'cleared'",
                     id=blocker_id),
        what="the blocker to clear",
    )  # fmt: skip
    # One trace from any of its events: the open and its blocker, the resolve and its clear.
    for start in (opened, blocker_id, resolved):
        answer = json.loads(cli("trace", start, "--json").stdout)
        assert answer["correlation_ids"] == [opened]
        chain = [pair for root in answer["roots"] for pair in tree_ids(root)]
        assert chain == [
            ("ops-hub", "ops-incident-opened"),
            ("dev-hub", "dev-blocker-raised"),
            ("ops-hub", "ops-incident-resolved"),
            ("dev-hub", "dev-blocker-cleared"),
        ]
    shown = cli("trace", opened)
    assert shown.exit_code == 0 and "dev-blocker-cleared" in shown.stdout
    print(shown.stdout)


def publish_low_runway(settings) -> str:
    """A burn of 1000 a month for the last months, then a balance that lasts two of them, in a currency of its
    own: the balance's id (fin-balance-to-runway, then fin-runway-to-canon-escalation follow from it)."""
    currency = unique_currency()  # a currency no other test uses
    today = dt.datetime.now(dt.UTC).date()
    for months_ago in (1, 2, 3):
        day = (today.replace(day=1) - dt.timedelta(days=28 * months_ago - 27)).replace(day=15)
        pub(settings, "fin-cost-recorded", "fin-hub", None,
                      {"amount": {"amount": "1000.00", "currency": currency},
             "incurred_on": day.isoformat()})  # fmt: skip
    return pub(settings, "fin-balance-recorded", "fin-hub", "account/main",
               {"balance": {"amount": "2000.00", "currency": currency}, "as_of": today.isoformat()})  # fmt: skip


def test_balance_and_burn_under_the_threshold_escalate_to_canon(settings, cli):
    balance = publish_low_runway(settings)
    runway_id = derived_id("fin-balance-to-runway", balance)
    escalation_id = derived_id("fin-runway-to-canon-escalation", runway_id)
    found = wait_until(
        lambda: q(settings, "SELECT * FROM canon_hub.escalations WHERE escalation_id = :id", id=escalation_id),
        what="the canon escalation",
    )
    assert found[0]["from_hub"] == "fin-hub" and found[0]["title"].startswith("viability: runway")
    answer = json.loads(cli("trace", escalation_id, "--json").stdout)
    (root,) = answer["roots"]
    assert tree_ids(root) == [
        ("fin-hub", "fin-balance-recorded"),
        ("fin-hub", "fin-runway-projected"),
        ("canon-hub", "canon-escalation-raised"),
    ]


def test_a_budget_alert_presses_on_dev_and_a_service_cost_reaches_ops(settings, cli):
    domain = f"dom-{uuid.uuid4().hex[:6]}"
    alert = pub(settings, "fin-budget-alert-raised", "fin-hub", f"budget/{domain}",
                          {"domain": domain, "severity": "high", "threshold_pct": 90})  # fmt: skip
    message_id = derived_id("fin-budget-alert-to-dev-pressure", alert)
    sent = wait_until(
        lambda: q(settings, "SELECT * FROM dev_hub.messages WHERE message_id = :id", id=message_id),
        what="the resource-pressure message",
    )
    assert sent[0]["recipient"] == domain and sent[0]["priority"] == "high"
    service = f"cost-{uuid.uuid4().hex[:6]}"
    for amount in ("10.50", "4.25"):
        pub(settings, "fin-cost-recorded", "fin-hub", None,
                      {"amount": {"amount": amount, "currency": "EUR"}, "service": service})  # fmt: skip

    def cost() -> bool:
        answer = json.loads(cli("ops", "services", "--name", service, "--json").stdout)
        return answer["services"] and answer["services"][0]["cost"] == {"EUR": "14.75"}

    wait_until(cost, what="the service's cost in ops")
    assert cli("ops", "services", "--name", service).exit_code == 0  # the table has a cost column


def test_couplings_are_listed_with_their_positions(settings, cli):
    answer = json.loads(cli("couplings", "--json").stdout)
    names = {c["name"]: c for c in answer}
    assert set(names) >= {
        "dev-deployment-to-ops-change", "ops-incident-to-dev-blocker", "fin-budget-alert-to-dev-pressure",
        "fin-cost-to-ops-service", "fin-runway-to-canon-escalation", "fin-balance-to-runway",
    }  # fmt: skip
    assert all(c["enabled"] and c["last_error"] is None for c in names.values())
    assert cli("couplings").exit_code == 0


def test_a_disabled_coupling_is_shown_off_and_an_unknown_name_fails(cli, monkeypatch):
    monkeypatch.setenv("VSMESH_COUPLINGS_DISABLED", "fin-cost-to-ops-service")
    answer = json.loads(cli("couplings", "--json").stdout)
    assert [c["name"] for c in answer if not c["enabled"]] == ["fin-cost-to-ops-service"]
    # A misspelt name is one line naming it and the known couplings, as `vsmesh up` refuses it.
    monkeypatch.setenv("VSMESH_COUPLINGS_DISABLED", "fin-cost-to-ops-servcie")
    refused = cli("couplings")
    assert refused.exit_code == 1
    [line] = refused.stderr.strip().splitlines()
    assert line.startswith("error: VSMESH_COUPLINGS_DISABLED names unknown coupling(s) fin-cost-to-ops-servcie")
    assert "known: " in line and "fin-cost-to-ops-service" in line


def _echo(name: str):
    """A coupling that answers each `switch/<run>/…` decision with a message naming the cause."""

    def react(event) -> list[Emit]:
        if not (event.subject or "").startswith("switch/"):
            return []
        return [Emit("message-sent", "dev-hub", f"{event.subject}/{name}", {"to": name, "body": event.id})]

    return Coupling(name=name, source_hub="dev-hub", target_hub="dev-hub", reacts_to=(DevDecisionRecorded,),
                    react=react, emits=(MessageSent,))  # fmt: skip


async def test_a_disabled_coupling_emits_nothing_once_the_reactors_passed_its_cause(settings):
    # Two couplings on the same events; VSMESH_COUPLINGS_DISABLED switches one off, read as `vsmesh up` reads it.
    off, on = "test-switch-off", "test-switch-on"
    switched = settings.model_copy(update={"couplings_disabled": (off,)})
    couplings = [c for c in active_couplings(switched, [_echo(off), _echo(on)]) if c.name in (off, on)]
    assert [c.name for c in couplings] == [on]
    nc, engine, stop = await connect(settings, name="test-switch"), create_engine(settings), asyncio.Event()
    try:
        await ensure_tables(engine)
        tasks, [stats] = start_reactors(nc, engine, settings, couplings, stop)
        publisher = Publisher(nc.jetstream(), settings)
        run = uuid.uuid4().hex[:8]
        event = publisher.build("dev-decision-recorded", hub="dev-hub", subject=f"switch/{run}",
                                data={"title": "switch", "decision": "go"})  # fmt: skip
        cause = await publisher.publish(event)
        # The running coupling's position passes the cause: the process has read it.
        deadline = time.monotonic() + 30
        while stats.positions.get("TACTICAL", 0) < cause.sequence:
            assert time.monotonic() < deadline, "the enabled coupling never passed the cause"
            await asyncio.sleep(0.02)
        stop.set()
        await asyncio.gather(*tasks)
        async with engine.connect() as conn:
            query = sa.text("SELECT coupling FROM vsmesh_reactors.emitted WHERE cause_id = :id")
            emitted = sorted((await conn.execute(query, {"id": cause.event_id})).scalars())
        # The enabled one answered it; the disabled one emitted nothing and holds no position.
        assert emitted == [on]
        async with engine.connect() as conn:
            query = sa.text("SELECT count(*) FROM vsmesh_reactors.positions WHERE coupling = :c")
            assert (await conn.execute(query, {"c": off})).scalar_one() == 0
    finally:
        stop.set()
        await engine.dispose()
        await nc.close()


def _all_couplings_at_head(cli) -> bool:
    rows = json.loads(cli("couplings", "--json").stdout)
    return all(r["lag"] == 0 for r in rows if r["enabled"])


def test_a_projector_rebuild_emits_nothing(settings, cli):
    # Whatever the couplings have emitted so far, a rebuild of every hub adds nothing to the log. The session's
    # mesh publishes on its own meanwhile (canon's scheduled checks, the chain's signed checkpoints), and the
    # couplings react to that: a daily runway check published during the rebuild escalated a low runway (test
    # order seed 4082078405). What counts is what couplings published about events stored before the rebuild.
    async def read(since: dict[str, int] | None = None):
        nc = await connect(settings, name="test-couplings")
        try:
            return await (heads(nc.jetstream()) if since is None else stored_since(nc.jetstream(), since))
        finally:
            await nc.close()

    def emitted_about_old_causes(before: dict[str, int]) -> int:
        rows = q(settings, "SELECT cause_stream, cause_seq FROM vsmesh_reactors.emitted")
        return sum(1 for r in rows if r["cause_seq"] <= before.get(r["cause_stream"], 0))

    # Every reactor reads to the head after `before`: what the causes stored by then make couplings emit is
    # stored and recorded before `mark`, whatever the mesh publishes meanwhile.
    before = asyncio.run(read())
    wait_until(lambda: _all_couplings_at_head(cli), timeout=30, what="every coupling at the head before")
    mark = asyncio.run(read())
    before_rows = emitted_about_old_causes(before)
    for hub in ("ops-hub", "dev-hub"):
        assert cli("rebuild", hub).exit_code == 0
    # Then every reactor has read to the head again: anything a rebuild made them emit would be stored by now.
    wait_until(lambda: _all_couplings_at_head(cli), timeout=30, what="every coupling at the head after")
    new_causes = {e["id"] for e in asyncio.run(read(before))}
    emitted = [
        e for e in asyncio.run(read(mark))
        if e.get("source", "").startswith("vsmesh/couplings/") and e.get("causationid") not in new_causes
    ]  # fmt: skip
    assert emitted == []
    assert emitted_about_old_causes(before) == before_rows


def test_a_malformed_cause_is_passed_over_and_the_next_deployment_still_couples(settings):
    """Before couplings read through the projectors' event source, `{not json` before a valid deployment stopped
    the coupling for good (it retried the same batch forever). The hub's projector quarantines it; the
    coupling passes over it and goes on."""
    service = f"svc-{uuid.uuid4().hex[:8]}"

    async def raw() -> None:
        nc = await connect(settings, name="test-couplings")
        try:
            await nc.jetstream().publish(f"tactical.dev-hub.dev-deployment-completed.service:{service}", b"{not json")
        finally:
            await nc.close()

    asyncio.run(raw())
    cause = pub(
        settings, "dev-deployment-completed", "dev-hub", f"deployment/{service}",
        {"service": service, "version": "2.0.0", "environment": "prod", "rollback_path": "helm rollback"},
    )  # fmt: skip
    change_id = derived_id("dev-deployment-to-ops-change", cause)
    wait_until(
        lambda: q(settings, "SELECT * FROM ops_hub.change_records WHERE event_id = :id", id=change_id),
        what="the ops change record after the malformed message",
    )
    [row] = q(settings, "SELECT * FROM vsmesh_reactors.positions WHERE coupling = 'dev-deployment-to-ops-change'")
    assert row["last_error"] is None
