"""The OpenCost puller against a real local server answering recorded `/allocation/compute` responses, into the
session's running mesh: fin-hub gets a cost per service and closed day, once; a revised figure is one correction,
which reaches ops-hub's copy too; an error page stores nothing."""

from __future__ import annotations

import asyncio
import datetime as dt
from decimal import Decimal

import pytest

from tests.sources.pullers.conftest import Answer, Recorded
from vsmesh.bus.connection import connect
from vsmesh.bus.contract_client import ask
from vsmesh.errors import SourceUnavailable
from vsmesh.sources.pullers.jobs import pull
from vsmesh.sources.pullers.model import parse_puller_file
from vsmesh.sources.pullers.plan import event_id

# The recorded responses hold 2026-12-05 and -06 whole, and today's first ten hours.
NOW = dt.datetime(2026, 12, 7, 10, 30, tzinfo=dt.UTC)
ROUTE = "/allocation/compute"


def puller(recorded: Recorded, name: str):
    text = f"""
pullers:
  - name: {name}
    kind: opencost
    url: {recorded.url}
    days: 3
    services: {{monitoring-{recorded.u}: grafana-{recorded.u}, observability-{recorded.u}: grafana-{recorded.u}}}
    token: {{env: OPENCOST_TOKEN}}
"""
    return parse_puller_file(text).pullers[0]


ENV = {"OPENCOST_TOKEN": "opencost-proxy-token"}


async def _stored(nc, ids: list[str], stored) -> dict:
    """fin-hub's figures once it applied what the pull stored (read-your-writes)."""
    wait = {s.stream: max(x.sequence for x in stored if x.stream == s.stream) for s in stored}
    return (await ask(nc, "fin-hub", "get_cost_figures", {"ids": ids, "wait_for_seq": wait}))["figures"]


async def test_costs_per_service_and_day_once_and_a_revision_corrects(settings, running_mesh, recorded):
    recorded.token = ENV["OPENCOST_TOKEN"]
    recorded.routes[ROUTE] = Answer("opencost-allocation.json")
    u, p = recorded.u, puller(recorded, f"opencost-{recorded.u}")
    nc = await connect(settings)
    try:
        plan, stored = await pull(p, nc, settings, ENV, now=NOW)
        # Two closed days × two services (two namespaces are grafana, summed); idle and today are left out.
        assert sorted((e.subject, e.data["incurred_on"]) for e in plan.events) == [
            (f"service/gitea-{u}", "2026-12-05"), (f"service/gitea-{u}", "2026-12-06"),
            (f"service/grafana-{u}", "2026-12-05"), (f"service/grafana-{u}", "2026-12-06"),
        ]  # fmt: skip
        assert all(e.event_type == "fin-cost-recorded" for e in plan.events) and len(stored) == 4
        # OpenCost was asked for the closed days, a set per day, as namespaces.
        asked = recorded.requests[-1]
        assert "window=2026-12-04T00%3A00%3A00Z%2C2026-12-07T00%3A00%3A00Z" in asked and "step=1d" in asked
        ids = [event_id("opencost", p.name, f"{service}-{u}", "2026-12-05") for service in ("gitea", "grafana")]
        figures = await _stored(nc, ids, stored)
        assert Decimal(figures[ids[0]]["amount"]) == Decimal("0.4956")  # 0.495598 to a hundredth of a cent
        assert Decimal(figures[ids[1]]["amount"]) == Decimal("0.5776")  # monitoring 0.432258 + observability 0.145305

        # A re-pull once fin-hub holds them: nothing planned, nothing stored.
        again, stored_again = await pull(p, nc, settings, ENV, now=NOW)
        assert again.events == [] and stored_again == []

        # OpenCost revised gitea's 5 December: one correction naming the cost it corrects, and nothing else.
        recorded.routes[ROUTE] = Answer("opencost-allocation-revised.json")
        revised, stored_rev = await pull(p, nc, settings, ENV, now=NOW)
        assert [(e.event_type, e.data["corrects"], e.data["amount"]["amount"]) for e in revised.events] == [
            ("fin-cost-corrected", ids[0], "0.5284")
        ]
        assert revised.events[0].data["previous"]["amount"] in ("0.4956", "0.49560000")
        figures = await _stored(nc, ids, stored_rev)
        assert Decimal(figures[ids[0]]["amount"]) == Decimal("0.5284") and figures[ids[0]]["corrected_by"]
        # The same revision pulled again is no news.
        assert (await pull(p, nc, settings, ENV, now=NOW))[0].events == []
        # ops-hub's copy of gitea's cost follows the correction (the fin→ops coupling): the two days, revised.
        await _until(lambda: _ops_cost(nc, f"gitea-{u}"), Decimal("0.5284") + Decimal("0.4956"))
    finally:
        await nc.close()


async def _ops_cost(nc, service: str) -> Decimal | None:
    found = (await ask(nc, "ops-hub", "get_services", {"name": service}))["services"]
    return Decimal(found[0]["cost"]["USD"]) if found and found[0]["cost"] else None


async def _until(read, wanted, timeout: float = 30.0) -> None:
    seen = None
    for _ in range(int(timeout / 0.1)):
        seen = await read()
        if seen == wanted:
            return
        await asyncio.sleep(0.1)
    pytest.fail(f"waited for {wanted}, last saw {seen}")


async def test_an_error_page_stores_nothing_and_says_where(settings, running_mesh, recorded):
    recorded.token = None
    recorded.routes[ROUTE] = Answer("opencost-502.html", status=502, content_type="text/html")
    p = puller(recorded, f"opencost-err-{recorded.u}")
    nc = await connect(settings)
    try:
        with pytest.raises(SourceUnavailable) as refused:
            await pull(p, nc, settings, ENV, now=NOW)
        # One line: the tool, where, the status and the page's words — never the token.
        message = str(refused.value)
        page = "502 Bad Gateway 502 Bad Gateway nginx"
        assert message == f"OpenCost at {recorded.url}/allocation/compute answered HTTP 502: {page}"
        assert ENV["OPENCOST_TOKEN"] not in message
        ids = [event_id("opencost", p.name, f"gitea-{recorded.u}", "2026-12-05")]
        assert (await ask(nc, "fin-hub", "get_cost_figures", {"ids": ids}))["figures"] == {}
    finally:
        await nc.close()


async def test_a_malformed_allocation_is_skipped_and_said_so_the_rest_planned(settings, running_mesh, recorded):
    recorded.token = None
    recorded.routes[ROUTE] = Answer("opencost-allocation-malformed.json")
    u, p = recorded.u, puller(recorded, f"opencost-bad-{recorded.u}")
    nc = await connect(settings)
    try:
        plan, _ = await pull(p, nc, settings, ENV, dry_run=True, now=NOW)
        # gitea's 5 December says totalCost "NaN": left out with its reason; the rest is planned as usual.
        assert plan.skipped == [f"gitea-{u}: totalCost 'NaN' is not a cost"]
        assert sorted((e.subject, e.data["incurred_on"]) for e in plan.events) == [
            (f"service/gitea-{u}", "2026-12-06"),
            (f"service/grafana-{u}", "2026-12-05"), (f"service/grafana-{u}", "2026-12-06"),
        ]  # fmt: skip
    finally:
        await nc.close()


async def test_opencosts_own_error_answer_is_one_line(settings, running_mesh, recorded):
    recorded.token = None
    recorded.routes[ROUTE] = Answer("opencost-500.json", status=500)
    nc = await connect(settings)
    try:
        with pytest.raises(SourceUnavailable, match="answered HTTP 500: .*failed to query Prometheus") as refused:
            await pull(puller(recorded, f"opencost-500-{recorded.u}"), nc, settings, ENV, now=NOW)
        assert "\n" not in str(refused.value)
    finally:
        await nc.close()
