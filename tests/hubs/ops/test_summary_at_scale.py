"""ops-hub's summary judges health in SQL (hubs/ops/service_health.py): the same answer as the Python path it
replaced, on a mixed history, at any clock and staleness setting, and paged without losing or repeating a service."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import uuid
from typing import Any

import pytest

from tests.hubs.ops.mixed_history import NOW, build, drop, events, fold_into
from vsmesh.hubs.ops import queries, reads
from vsmesh.hubs.ops.health import Staleness
from vsmesh.hubs.ops.readiness_view import describe_wave, wave_names
from vsmesh.hubs.ops.service_view import describe_services
from vsmesh.projectors.engine.batches import in_schema
from vsmesh.projectors.engine.database import create_engine
from vsmesh.settings import Settings

SERVICES = 300


async def python_summary(conn, now: dt.datetime, staleness: Staleness) -> dict[str, Any]:
    """The summary as it was computed before: every service materialised and judged in Python."""
    snap = await queries.load_snapshot(conn)
    incidents = await queries.incident_rows(conn, open_only=True)
    found = describe_services(snap, staleness, now, incidents)
    listed = [
        {
            k: s[k]
            for k in (
                "name",
                "status",
                "environment",
                "host",
                "owner",
                "checked_at",
                "tls_days_left",
                "backup_age_hours",
            )
        }
        for s in sorted(found, key=lambda s: s["name"])
    ]
    by_status: dict[str, int] = {}
    for s in listed:
        by_status[s["status"] or "unknown"] = by_status.get(s["status"] or "unknown", 0) + 1
    gates = await queries.gate_rows(conn)
    waves = [describe_wave(snap, w, gates, {}) for w in wave_names(snap, gates)]
    return {
        "services": listed,
        "by_status": by_status,
        "open_incidents": len(incidents),
        "waves": [{k: w[k] for k in ("wave", "passing", "total", "may_proceed")} for w in waves if w],
    }


@pytest.fixture(scope="module")
def mixed_schema(database_url):
    """A schema of its own holding the mixed history, folded by ops-hub's handlers (once for the module)."""
    schema = f"ops_mixed_{uuid.uuid4().hex[:6]}"

    async def on_engine(work) -> None:
        engine = create_engine(Settings(database_url=database_url))
        try:
            await work(engine)
        finally:
            await engine.dispose()

    asyncio.run(on_engine(lambda engine: fold_into(engine, schema, events(SERVICES))))
    yield schema
    asyncio.run(on_engine(lambda engine: drop(engine, schema)))


@pytest.fixture
async def mixed(database_url, mixed_schema):
    engine = create_engine(Settings(database_url=database_url))
    yield engine, mixed_schema
    await engine.dispose()


# +23 min: evidence checked 37.3 min before NOW is then 60.3 min old, just past the default amber threshold.
CLOCKS = [NOW, NOW + dt.timedelta(minutes=23), NOW + dt.timedelta(hours=5), NOW + dt.timedelta(days=3)]
SETTINGS = [Staleness(), Staleness(10, 120), Staleness(120, 30)]  # the last: red below amber, the larger wins


@pytest.mark.parametrize("staleness", SETTINGS, ids=["defaults", "10-120", "red-below-amber"])
@pytest.mark.parametrize("now", CLOCKS, ids=["now", "+23min", "+5h", "+3d"])
async def test_sql_summary_answers_what_the_python_path_answered(mixed, now, staleness):
    engine, schema = mixed
    async with engine.connect() as conn:
        conn = await in_schema(conn, schema)
        before = await python_summary(conn, now, staleness)
        after = await reads.domain_summary(conn, now=now, staleness=staleness, limit=5000)
    # Every case is present, so the comparison can fail on each: several healths, environments from hosts,
    # services proven only by endpoints, retired ones left out.
    assert "unknown" in before["by_status"] and len(before["by_status"]) >= 2
    assert len(before["services"]) > SERVICES * 0.8
    assert after["services"] == before["services"]
    assert after["by_status"] == before["by_status"]
    assert after["services_total"] == len(before["services"]) and after["next_offset"] is None
    assert (after["open_incidents"], after["waves"]) == (before["open_incidents"], before["waves"])


async def test_staleness_flips_with_now(mixed):
    engine, schema = mixed
    async with engine.connect() as conn:
        conn = await in_schema(conn, schema)
        at_now = await reads.domain_summary(conn, now=NOW, limit=5000)
        assert set(at_now["by_status"]) == {"green", "amber", "red", "unknown"}

        async def status_at(minutes: float) -> str:
            # svc-00050 was checked green at NOW and has no endpoint: only its own evidence's age counts.
            summary = await reads.domain_summary(conn, now=NOW + dt.timedelta(minutes=minutes), limit=5000)
            return next(s["status"] for s in summary["services"] if s["name"] == "svc-00050")

        assert [await status_at(m) for m in (0, 59, 61, 1439, 1441)] == ["green", "green", "amber", "amber", "red"]


async def test_pages_cover_every_service_once(mixed):
    engine, schema = mixed
    async with engine.connect() as conn:
        conn = await in_schema(conn, schema)
        whole = await reads.domain_summary(conn, now=NOW, limit=5000)
        paged, offset = [], 0
        while offset is not None:
            page = await reads.domain_summary(conn, now=NOW, limit=37, offset=offset)
            assert len(page["services"]) <= 37 and page["by_status"] == whole["by_status"]
            paged += page["services"]
            offset = page["next_offset"]
    assert paged == whole["services"]
    assert len(paged) == whole["services_total"] == sum(whole["by_status"].values())


async def test_an_answer_given_again_follows_new_events_and_a_swapped_schema(database_url):
    engine = create_engine(Settings(database_url=database_url))
    schema = f"ops_again_{uuid.uuid4().hex[:6]}"
    checked = ("ops-health-checked", "service/again", {"status": "green"}, NOW)
    try:
        await fold_into(engine, schema, build([checked]))
        assert await status_of(engine, schema, "again") == "green"
        assert await status_of(engine, schema, "again") == "green"  # asked again: the same answer
        # A new event moves the position: the next answer has it.
        await fold_into(engine, schema, build([(*checked[:2], {"status": "red"}, NOW)]), after=1)
        assert await status_of(engine, schema, "again") == "red"
        # A rebuild swaps in another schema under the same name, here at the same position but other rows.
        await drop(engine, schema)
        await fold_into(engine, schema, build([checked, (*checked[:2], {"status": "amber"}, NOW)]))
        assert await status_of(engine, schema, "again") == "amber"
    finally:
        await drop(engine, schema)
        await engine.dispose()


async def status_of(engine, schema: str, name: str) -> str | None:
    async with engine.connect() as conn:
        summary = await reads.domain_summary(await in_schema(conn, schema), now=NOW)
    return next(s["status"] for s in summary["services"] if s["name"] == name)


async def test_the_summary_command_shows_one_page_and_says_how_to_see_the_next(ops, unique, cli):
    for n in ("a", "b"):  # at least two services in the mesh, so a page of one is not all of them
        await ops.publish("ops-health-checked", f"service/page-{unique}-{n}", status="green")
    total = (await ops.ask("get_domain_summary", limit=1))["services_total"]

    shown = await asyncio.to_thread(cli, "summary", "ops-hub", "--limit", "1")
    assert shown.exit_code == 0, shown.output
    assert f"services 1–1 of {total}; the next with --offset 1" in shown.stdout
    # The next page as JSON: one other service, and where the one after it starts.
    answer = await asyncio.to_thread(cli, "summary", "ops-hub", "--json", "--limit", "1", "--offset", "1")
    page = json.loads(answer.stdout)
    assert len(page["services"]) == 1 and page["services_total"] == total
    assert page["next_offset"] == (2 if total > 2 else None)
    # Other hubs' summaries have no pages: the hub names the field it does not know.
    refused = await asyncio.to_thread(cli, "summary", "dev-hub", "--limit", "1")
    assert refused.exit_code != 0 and "limit" in refused.output


FILTERS = [
    {},
    {"include_retired": True},
    {"environment": "prod"},
    {"environment": "env1"},  # only through the host h1
    {"name": "svc-00048"},  # proven by its endpoint ep-48, which also names svc-00049
    {"name": "svc-00008"},  # seen in evidence only; its endpoint ep-8 is retired
    {"name": "svc-00005", "include_retired": True},  # retired
]


@pytest.mark.parametrize("filters", FILTERS, ids=lambda f: ",".join(f"{k}={v}" for k, v in f.items()) or "all")
async def test_a_page_of_services_is_described_as_before(mixed, filters):
    engine, schema = mixed
    now = NOW + dt.timedelta(minutes=23)
    async with engine.connect() as conn:
        conn = await in_schema(conn, schema)
        snap = await queries.load_snapshot(conn)
        before = describe_services(snap, Staleness(), now, await queries.incident_rows(conn, open_only=True), **filters)
        total, after = await reads.services(conn, now=now, limit=5000, **filters)
        assert before and after == before and total == len(before)
        # Pages of 29 add up to the same list.
        paged, offset = [], 0
        while offset < total:
            paged += (await reads.services(conn, now=now, limit=29, offset=offset, **filters))[1]
            offset += 29
        assert paged == before


async def test_services_asked_by_entity_are_described_as_in_the_whole_list(mixed):
    """A live page re-reads only the services a batch named (entities=[…]): the same rows as in the whole list."""
    engine, schema = mixed
    now = NOW + dt.timedelta(minutes=23)
    async with engine.connect() as conn:
        conn = await in_schema(conn, schema)
        _, whole = await reads.services(conn, now=now, limit=5000)
        wanted = [whole[3]["entity"], whole[-1]["entity"], "service/never-seen"]
        total, some = await reads.services(conn, now=now, entities=wanted)
        assert total == 2 and some == [s for s in whole if s["entity"] in wanted]
