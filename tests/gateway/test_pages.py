"""The now view in a real browser: Debian's chromium driven by Playwright, against the session's `vsmesh up`.

Screenshots of every page land in the test's temp dir (`pytest --basetemp=DIR` keeps them findable).
"""

from __future__ import annotations

import json
import re
import shutil
import time
import uuid
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import expect
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import PERSON, publish_as, server_dir, wait_until
from tests.gateway.conftest import cell, health, publish
from tests.gateway.pages_gateway import PagesGateway, start_pages_gateway
from vsmesh.gateway.identity.clients import Clients
from vsmesh.gateway.pages.pages import PAGES


def test_each_horizon_has_its_page_and_they_never_mix(page_cli, pages_url, page, tmp_path, settings):
    run = uuid.uuid4().hex[:6]
    service, policy = f"page-svc-{run}", f"page-policy-{run}"
    health(page_cli, service, "green")
    publish(page_cli, "fin-cost-recorded", "fin-hub", f"service/{service}",
            {"amount": {"amount": "4321.98", "currency": "EUR"}, "category": "hosting", "period": "2026-11",
             "service": service})  # fmt: skip
    publish(page_cli, "canon-policy-declared", "canon-hub", f"policy/{policy}",
            {"policy": policy, "title": "pages", "metadata": {"values": {"agent_spend_threshold": 500}}})  # fmt: skip
    refused = f"bot-{run}"  # an agent's call the gateway refused, as it publishes one
    publish_as(settings, refused, "agent", "canon-call-refused", "canon-hub", f"mandate/{refused}",
               {"hub": "fin-hub", "operation": "record_cost", "reason": "no mandate", "access": "write",
                "missing_mandate": "fin-hub:record_cost"})  # fmt: skip

    page.goto(f"{pages_url}/operational")
    expect(cell(page, service)).to_have_attribute("data-status", "green", timeout=10_000)
    for slug in PAGES:
        page.goto(f"{pages_url}/{slug}")
        expect(page.locator("h1")).to_contain_text(PAGES[slug].title)
        page.screenshot(path=str(tmp_path / f"{slug}.png"), full_page=True)
    # The grid says the colour in words too, and each page names its one horizon.
    page.goto(f"{pages_url}/operational")
    expect(cell(page, service).locator(".word")).to_have_text("green")
    operational = page.content()
    assert "4321.98" not in operational and policy not in operational  # strategic and constitutional data
    page.goto(f"{pages_url}/constitutional")
    expect(page.locator("main")).to_contain_text(policy)
    # canon's page: a policy's values, and the refused attempt with the mandate it lacked.
    expect(page.locator(f'[data-policy="{policy}"]')).to_contain_text("agent_spend_threshold = 500")
    expect(page.locator(f'[data-refused="{refused}"]')).to_contain_text("fin-hub:record_cost")
    assert service not in page.content()
    page.goto(f"{pages_url}/strategic")
    assert policy not in page.content() and "ops-health-checked" not in page.content()
    # fin's page: the burn split in its parts, and the cost attributed to the service.
    expect(page.locator('[data-burn="variable"]')).to_contain_text("variable")
    expect(page.locator('[data-burn="committed"]')).to_contain_text("committed")
    expect(page.locator(f'[data-cost-service="{service}"]')).to_contain_text("4321.98 EUR")
    assert {p.horizon for p in PAGES.values()} == {"operational", "tactical", "strategic", "constitutional", "mesh"}
    # A page asks one hub (one horizon's streams); the constitutional page canon-hub and the audit that reports to
    # it, whose findings are constitutional events too.
    assert all(len(p.hubs) == 1 for slug, p in PAGES.items() if slug != "constitutional")
    assert PAGES["constitutional"].hubs == ("canon-hub", "aud-hub")


def test_an_open_page_turns_a_cell_red_and_shows_an_incident_without_reload(page_cli, pages_url, page):
    service = f"page-live-{uuid.uuid4().hex[:6]}"
    health(page_cli, service, "green")
    page.goto(f"{pages_url}/operational")
    expect(cell(page, service)).to_have_attribute("data-status", "green", timeout=10_000)
    expect(page.locator("body")).to_have_attribute("data-connected", "yes", timeout=10_000)
    page.evaluate("window.__notReloaded = true")

    started = time.monotonic()
    health(page_cli, service, "red")
    expect(cell(page, service)).to_have_attribute("data-status", "red", timeout=10_000)
    turned = time.monotonic() - started
    assert page.evaluate("window.__notReloaded") is True
    expect(cell(page, service).locator(".word")).to_have_text("red")
    # A service seen for the first time gets a cell of its own (the live patch carries that cell alone).
    newcomer = f"{service}-new"
    health(page_cli, newcomer, "amber")
    expect(cell(page, newcomer)).to_have_attribute("data-status", "amber", timeout=10_000)
    statuses = page.locator(".grid .cell").evaluate_all("cells => cells.map(c => c.dataset.status)")
    rank = {"red": 0, "amber": 1, "green": 2}
    assert statuses == sorted(statuses, key=lambda s: rank.get(s, 3))  # red first, as a reload shows

    title = f"{service} answers 500"
    publish(page_cli, "ops-incident-opened", "ops-hub", f"incident/{service}",
            {"title": title, "severity": "high", "affected": [f"service/{service}"]})  # fmt: skip
    expect(page.locator(".timeline")).to_contain_text(title, timeout=10_000)
    expect(cell(page, service).locator(".reason")).to_contain_text(f"open high incident: {title}")
    assert page.evaluate("window.__notReloaded") is True
    print(f"cell turned red {turned:.2f} s after the publish (CLI process start included)")


def test_as_of_shows_the_earlier_state_and_a_cell_links_to_its_causes(page_cli, pages_url, page):
    service = f"page-asof-{uuid.uuid4().hex[:6]}"
    health(page_cli, service, "green")
    page.goto(f"{pages_url}/operational")
    expect(cell(page, service)).to_have_attribute("data-status", "green", timeout=10_000)
    copy = f"pages-{service[-6:]}"
    built = page_cli("rebuild", "ops-hub", "--into", copy, "--json")
    assert built.exit_code == 0, built.stderr
    try:
        health(page_cli, service, "red")
        expect(cell(page, service)).to_have_attribute("data-status", "red", timeout=10_000)
        page.goto(f"{pages_url}/operational?as_of={copy}")
        expect(page.locator(".as-of")).to_contain_text(copy)
        expect(cell(page, service)).to_have_attribute("data-status", "green")
        page.goto(f"{pages_url}/operational?as_of=never-built")
        expect(page.locator(".error")).to_contain_text("no point-in-time copy named 'never-built'")
    finally:
        page_cli("rebuild", "--drop", copy)

    # An incident's opening caused a dev blocker through a coupling: its page shows the whole chain.
    title = f"{service} is down"
    publish(page_cli, "ops-incident-opened", "ops-hub", f"incident/{service}",
            {"title": title, "severity": "high", "affected": [f"service/{service}"]})  # fmt: skip
    page.goto(f"{pages_url}/operational")
    link = page.locator(".timeline a", has_text=title)
    expect(link).to_be_visible(timeout=10_000)

    def chained() -> bool:
        page.goto(f"{pages_url}/operational")
        page.locator(".timeline a", has_text=title).click()
        return "dev-blocker-raised" in page.locator("main").inner_text()

    wait_until(chained, what="the incident's causation chain on its event page")
    expect(page.locator(".trace")).to_contain_text("ops-incident-opened")
    expect(page.locator(".trace")).to_contain_text("via ops-incident-to-dev-blocker")
    # Each step's time in words, the exact time on hover.
    stamp = page.locator(".trace time").first
    expect(stamp).to_have_text(re.compile(r"^(just now|\d+ min ago)$"))
    assert stamp.get_attribute("datetime") and stamp.get_attribute("title") == stamp.get_attribute("datetime")


def test_the_canon_page_audits_an_agents_action_and_shows_its_revert(page_cli, pages_url, page, tmp_path, settings):
    agent = f"page-bot-{uuid.uuid4().hex[:6]}"
    acted = publish_as(settings, agent, "agent", "ops-health-checked", "ops-hub", f"service/{agent}",
                       {"status": "red", "observations": {}})  # fmt: skip
    row = page.locator(f'[data-action="{acted["id"]}"]')

    def shown(state: str) -> bool:
        page.goto(f"{pages_url}/constitutional")  # (the audit reads every hub's log: a canon batch alone refreshes it)
        return row.count() == 1 and row.get_attribute("data-state") == state

    # The agent's action is on the constitutional page, standing, with its hub, type and entity.
    wait_until(lambda: shown("standing"), what="the agent's action on the canon page")
    expect(page.get_by_role("heading", name="Audit: what agents did")).to_be_visible()
    expect(row).to_contain_text(agent)
    for said in ("ops-hub", "ops-health-checked", f"service/{agent}", "standing"):
        expect(row).to_contain_text(said)

    # A person (the signed-in one) reverts it with the CLI: the row says reverted, by whom and why.
    done = page_cli("revert", acted["id"], "--reason", "the agent misread the probe", "--json")
    assert done.exit_code == 0, done.stderr

    wait_until(lambda: shown("reverted"), what="the reverted state of the agent's action on the canon page")
    expect(row).to_contain_text(f"reverted by {PERSON}")
    expect(row).to_contain_text("the agent misread the probe")
    page.screenshot(path=str(tmp_path / "constitutional-audit.png"), full_page=True)
    # Each row links to its evidence: the event's own page.
    row.get_by_role("link", name=f"event {acted['id'][:12]}").click()
    expect(page.locator("h1")).to_contain_text(acted["id"])


def test_a_page_read_after_a_change_keeps_it_when_its_live_stream_opens(pages_url, page, settings):
    # A browser already on the page keeps its live view running, with the audit as it was read then.
    watcher = page.context.new_page()
    watcher.goto(f"{pages_url}/constitutional")
    expect(watcher.locator("body")).to_have_attribute("data-connected", "yes", timeout=10_000)
    # An agent acts on another hub: no batch of the page's own hubs, so that view does not read again.
    agent = f"late-bot-{uuid.uuid4().hex[:6]}"
    acted = publish_as(settings, agent, "agent", "ops-health-checked", "ops-hub", f"service/{agent}",
                       {"status": "red", "observations": {}})  # fmt: skip
    row = page.locator(f'[data-action="{acted["id"]}"]')

    def shown() -> bool:
        page.goto(f"{pages_url}/constitutional")
        return row.count() == 1

    wait_until(shown, what="the agent's action on a freshly read canon page")
    expect(page.locator("body")).to_have_attribute("data-connected", "yes", timeout=10_000)
    # Its stream sends only what changed after its page was read: the older view never takes the action back.
    time.sleep(1.0)
    assert row.count() == 1, "the live stream replaced the page with an older render"
    watcher.close()
    # A stream asked from a time that is not one is refused, naming the fix.
    refused = httpx.get(f"{pages_url}/constitutional/live?since=yesterday")
    assert refused.status_code == 400 and "reload the page" in refused.text


def scrape(pages_url: str) -> dict:
    return {f.name: f for f in text_string_to_metric_families(httpx.get(f"{pages_url}/metrics").text)}


def by_projector(families: dict, name: str) -> dict[tuple[str, str], float]:
    return {(s.labels["hub"], s.labels["stream"]): s.value for s in families[name].samples}


def test_metrics_export_every_stream_of_every_projector_as_vsmesh_status_shows_it(page_cli, pages_url):
    """Each projector row of `vsmesh status` has its series in /metrics, with the same position and lag: the
    registry's and any manifest hub's too, and a stream nothing of which was applied yet (at 0)."""
    health(page_cli, "metrics-check", "green")  # ops-hub has applied something, whichever test ran first
    deadline, differ = time.monotonic() + 30, "never a quiet moment to compare"
    while time.monotonic() < deadline:
        before = scrape(pages_url)
        status = json.loads(page_cli("status", "--json").stdout)
        families = scrape(pages_url)
        position = by_projector(families, "vsmesh_projector_position")
        if position != by_projector(before, "vsmesh_projector_position"):
            continue  # something was applied meanwhile: look again
        assert status["projectors"], "vsmesh status lists no projector: nothing to compare"
        lag = by_projector(families, "vsmesh_projector_lag")
        differ = {
            (row["hub"], row["stream"]): (row["position"], row["lag"], position.get(key), lag.get(key))
            for row in status["projectors"]
            if (position.get(key := (row["hub"], row["stream"])), lag.get(key)) != (row["position"], row["lag"])
        }
        if not differ:
            break
        time.sleep(0.2)
    assert differ == {}, f"(hub, stream): (status position, lag, /metrics position, lag) where they differ: {differ}"
    assert {("registry", "CONSTITUTIONAL"), ("ops-hub", "CONSTITUTIONAL")} <= position.keys()
    assert "vsmesh_contract_call_seconds" in families and "vsmesh_projector_batch_seconds" in families
    assert httpx.get(f"{pages_url}/healthz").status_code == 200 and httpx.get(f"{pages_url}/readyz").text == "ready"


def test_the_grafana_dashboard_and_prometheus_config_name_what_the_mesh_exports(pages_url):
    """deploy/: every metric a dashboard panel queries is one /metrics exports, and Prometheus scrapes the
    port the compose mesh serves it on."""
    import re

    import yaml

    root = Path(__file__).resolve().parents[2] / "deploy"
    exported = {f.name for f in text_string_to_metric_families(httpx.get(f"{pages_url}/metrics").text)}
    samples = {n + suffix for n in exported for suffix in ("", "_bucket", "_count", "_sum", "_total")}
    dashboard = json.loads((root / "grafana" / "dashboards" / "vsmesh.json").read_text())
    queried = {
        name
        for panel in dashboard["panels"]
        for target in panel["targets"]
        for name in re.findall(r"\bvsmesh_[a-z_]+", target["expr"])
    }
    assert queried and queried <= samples, f"the dashboard queries metrics nobody exports: {queried - samples}"
    scrape = yaml.safe_load((root / "prometheus.yml").read_text())["scrape_configs"][0]
    compose = yaml.safe_load((root.parent / "docker-compose.yml").read_text())
    port = compose["x-mesh"]["environment"]["VSMESH_GATEWAY_PORT"]
    assert scrape["metrics_path"] == "/metrics" and str(scrape["dns_sd_configs"][0]["port"]) == port


@pytest.fixture(scope="module")
def pages_gateway(settings, running_mesh) -> PagesGateway:
    data_dir = server_dir()
    try:
        yield from start_pages_gateway(settings, data_dir)
    finally:
        shutil.rmtree(data_dir, ignore_errors=True)


def test_from_another_address_the_pages_ask_to_sign_in_with_the_issuer(pages_gateway, chromium, tmp_path):
    Clients(pages_gateway.data_dir).set_person("ada", "correct horse")  # as `vsmesh user add ada` does
    remote = pages_gateway.remote
    # An event stream is refused without a session (EventSource cannot follow a sign-in), and the issuer sends
    # the pages' code back only to this gateway's own callback on the origin the browser used.
    assert httpx.get(f"{remote}/operational/live").status_code == 401
    stolen = {
        "response_type": "code", "client_id": "vsmesh-pages", "redirect_uri": "http://evil.example/signin/callback",
        "code_challenge": "x" * 43, "code_challenge_method": "S256",
    }  # fmt: skip
    refused = httpx.get(f"{remote}/authorize", params=stolen)
    assert refused.status_code == 400 and "redirect_uri must be" in refused.text

    context = chromium.new_context(viewport={"width": 390, "height": 844})  # a phone's width
    try:
        page = context.new_page()
        page.goto(f"{remote}/operational")
        # Not signed in, from afar: the issuer's login page, not the grid.
        expect(page.get_by_role("heading", name="Sign in to vsmesh")).to_be_visible()
        page.get_by_label("User name").fill("ada")
        page.get_by_label("Password").fill("wrong password")
        page.get_by_role("button", name="Sign in").click()
        expect(page.get_by_role("alert")).to_have_text("Wrong user name or password.")
        page.get_by_label("User name").fill("ada")
        page.get_by_label("Password").fill("correct horse")
        page.get_by_role("button", name="Sign in").click()
        # Back where she was going, signed in, and the page is live.
        expect(page.locator("h1")).to_contain_text("Operations now")
        assert page.url == f"{remote}/operational"
        expect(page.locator(".banner.signed-in")).to_contain_text("Signed in as ada")
        expect(page.locator("body")).to_have_attribute("data-connected", "yes", timeout=10_000)
        page.screenshot(path=str(tmp_path / "signed-in.png"), full_page=True)

        page.get_by_role("button", name="Sign out").click()
        page.goto(f"{remote}/strategic")
        expect(page.get_by_role("heading", name="Sign in to vsmesh")).to_be_visible()
        # A browser on this machine reads without signing in, and is told so.
        page.goto(f"{pages_gateway.local}/operational")
        expect(page.locator("h1")).to_contain_text("Operations now")
        expect(page.locator(".banner").first).to_contain_text("without sign-in to a browser on this machine")
    finally:
        context.close()
