"""Pages that read well, in a real browser against the session's `vsmesh up`: every hub listed in words and
within the window, headings and times in words, no failed request, and a grid whose every colour is counted
and explained by what the probes saw.
"""

from __future__ import annotations

import datetime as dt
import re
import uuid
from pathlib import Path

from playwright.sync_api import expect

from tests.gateway.conftest import cell, health, publish
from tests.probes.conftest import Tls
from vsmesh.gateway.pages.pages import PAGES

ISO = re.compile(r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}")  # a machine's time, where a person's words belong
WORDED = re.compile(r"^(just now|\d+ (min|h|days?) ago|in \d+ (min|h|days?)|on \d+ \w+ \d{4})$")
CODED = ("ops-hub", "dev-hub", "fin-hub", "canon-hub", "sec-hub", "legal-hub")


def test_every_page_reads_times_in_words_with_the_exact_time_on_hover_and_loads_without_an_error(
    page_cli, pages_url, page
):
    run = uuid.uuid4().hex[:6]
    checked = health(page_cli, f"times-{run}", "green")
    publish(page_cli, "dev-blocker-raised", "dev-hub", f"blocker/times-{run}", {"title": f"times {run}"})
    policy = {"policy": f"times-{run}", "title": "times"}
    publish(page_cli, "canon-policy-declared", "canon-hub", f"policy/times-{run}", policy)
    failed: list[str] = []
    page.on("console", lambda m: failed.append(f"console: {m.text}") if m.type == "error" else None)
    page.on("response", lambda r: failed.append(f"{r.status} {r.url}") if r.status >= 400 else None)

    expect_timed = {"operational": f"times-{run}", "tactical": f"times {run}", "constitutional": f"times-{run}"}
    for path in [*PAGES, f"event/{checked['id']}"]:
        page.goto(f"{pages_url}/{path}")
        if path in expect_timed:  # the events above are applied: their times are shown
            expect(page.locator("main")).to_contain_text(expect_timed[path], timeout=10_000)
        # No machine time where a person reads: each is a <time> in words, its exact ISO time on hover.
        shown = page.locator("main").inner_text()
        assert not ISO.search(shown), f"/{path} shows a time as ISO text: {ISO.search(shown).group()}"
        times = page.locator("main time").evaluate_all(
            "ts => ts.map(t => [t.getAttribute('datetime'), t.getAttribute('title'), t.textContent])"
        )
        assert times or path in ("strategic", "hubs") or path.startswith("event/"), f"/{path} shows no time"
        for exact, hover, words in times:
            assert dt.datetime.fromisoformat(exact).tzinfo is not None and hover == exact, (path, exact, hover)
            assert WORDED.match(words), f"/{path}: {words!r} for {exact}"
    # The favicon and every script and style load: nothing fails, nothing in the console.
    assert failed == []


def test_the_hubs_page_lists_every_hub_and_each_manifest_in_words_within_the_window(page_cli, pages_url, page):
    done = page_cli("hub", "bootstrap", "syn-hub")  # a hub from a manifest alone (already there: nothing new)
    assert done.exit_code == 0, done.stderr
    page.goto(f"{pages_url}/hubs")
    for slug in (*CODED, "registry", "syn-hub"):
        expect(page.locator(f'[data-hub="{slug}"] h2')).to_contain_text(slug)
    # A manifest as words: a definition list of its function, system, horizon and vocabulary, no Python dict.
    syn = page.locator('[data-hub="syn-hub"]')
    for term, said in (("made", "from a manifest"), ("function", "SYN"), ("system", "S2"), ("horizon", "tactical")):
        expect(syn.locator(f'dt:text-is("{term}") + dd')).to_have_text(said)
    expect(syn.locator('[data-terms="event types"]')).to_contain_text("syn-handoff-requested")
    expect(page.locator('[data-hub="ops-hub"] [data-terms="event types"]')).to_contain_text("ops-health-checked")
    shown = page.locator("main").inner_text()
    assert "{" not in shown and "manifest_id" not in shown and "None" not in shown
    # Every hub fits a 1280-pixel window: no sideways scrolling.
    assert page.evaluate("document.documentElement.scrollWidth") <= 1280


def test_the_tactical_page_heads_its_sections_and_columns_in_words(page_cli, pages_url, page):
    title = f"words {uuid.uuid4().hex[:6]}"
    publish(page_cli, "dev-blocker-raised", "dev-hub", f"blocker/{title[-6:]}", {"title": title, "severity": "high"})
    page.goto(f"{pages_url}/tactical")
    expect(page.locator("main")).to_contain_text(title, timeout=10_000)
    expect(page.get_by_role("heading", name="Open blockers")).to_be_visible()
    headings = page.locator("main h2, main th").all_inner_texts()
    assert headings and not [h for h in headings if "_" in h], headings


def test_the_grid_counts_every_cell_unknown_ones_too(page_cli, pages_url, page):
    unseen = f"unseen-{uuid.uuid4().hex[:6]}"  # catalogued, never checked
    publish(page_cli, "ops-inventory-registered", "ops-hub", f"service/{unseen}", {"kind": "service", "name": unseen})
    page.goto(f"{pages_url}/operational")
    expect(cell(page, unseen)).to_have_attribute("data-status", "unknown", timeout=10_000)
    expect(cell(page, unseen).locator(".reason")).to_have_text("no evidence yet")
    statuses = page.locator(".grid .cell").evaluate_all("cells => cells.map(c => c.dataset.status)")
    said = {"red": 0, "amber": 0, "green": 0, "unknown": 0}
    said.update({colour: int(n) for n, colour in re.findall(r"(\d+) (\w+)", page.locator("#counts").inner_text())})
    assert said == {colour: statuses.count(colour) for colour in said} and sum(said.values()) == len(statuses)


def probe_file(tmp_path: Path, run: str, tls: Tls, http_port: int) -> Path:
    """A tls probe of a certificate expiring in 3 days, and an http probe of an endpoint answering 503."""
    path = tmp_path / "probes.yaml"
    path.write_text(f"""probes:
  - name: tls-{run}
    entity: endpoint/tls-{run}
    kind: tls
    host: localhost
    port: {tls.port}
    ca_file: {tls.ca_file}
    conditions: ["[CONNECTED] == true", "[CERTIFICATE_EXPIRATION] > 14d"]
  - name: web-{run}
    entity: endpoint/web-{run}
    kind: http
    url: http://127.0.0.1:{http_port}/down
    conditions: ["[STATUS] == 200"]
""")
    return path


def test_a_cells_reason_says_what_the_probes_saw_and_the_certificates_show_it(
    page_cli, pages_url, page, tmp_path, https_expiring, http_port, probes_service, monkeypatch
):
    run = uuid.uuid4().hex[:6]
    secured, answering = f"secured-{run}", f"answering-{run}"
    for service, endpoint, url in ((secured, f"tls-{run}", f"https://localhost:{https_expiring.port}/"),
                                   (answering, f"web-{run}", f"http://127.0.0.1:{http_port}/down")):  # fmt: skip
        publish(page_cli, "ops-inventory-registered", "ops-hub", f"service/{service}", {"kind": "service",
                "name": service})  # fmt: skip
        publish(page_cli, "ops-inventory-registered", "ops-hub", f"endpoint/{endpoint}",
                {"kind": "endpoint", "name": endpoint, "attributes": {"service": service, "url": url}})  # fmt: skip
    # The probes run once as the mesh's runner would: real TLS and HTTP, evidence published to ops-hub.
    monkeypatch.setenv("VSMESH_GATEWAY_URL", probes_service.gateway_url)
    monkeypatch.setenv("VSMESH_PROBES_ACTOR", probes_service.name)
    path = probe_file(tmp_path, run, https_expiring, http_port)
    ran = page_cli("probe", "run", str(path), "--once", "--json", "--creds", str(probes_service.creds))
    assert ran.exit_code == 0, ran.output

    page.goto(f"{pages_url}/operational")
    expect(cell(page, secured)).to_have_attribute("data-status", "red", timeout=10_000)
    expect(cell(page, secured).locator(".reason")).to_have_text("TLS certificate expires in 3 days")
    expect(cell(page, answering)).to_have_attribute("data-status", "red")
    expect(cell(page, answering).locator(".reason")).to_have_text(
        f"HTTP 503 from http://127.0.0.1:{http_port}/down (expected 200)"
    )
    reasons = page.locator(".grid .reason").all_inner_texts()
    assert not [r for r in reasons if "failing" in r or "health red" in r], reasons
    # The certificate the tls probe saw, for its endpoint: subject, issuer, expiry and days left.
    row = page.locator(f'[data-certificate="endpoint/tls-{run}"]')
    expect(row).to_contain_text(secured)
    expect(row).to_contain_text(f"https://localhost:{https_expiring.port}/")
    expect(row).to_contain_text("O=trustme")  # the issuing test CA, by name
    expect(row.locator("time").first).to_have_text("in 3 days")
    expect(row.locator("td").nth(5)).to_have_text(re.compile(r"^(2\.9|3\.0)$"))


def test_an_open_high_or_critical_incident_colours_its_service_and_is_named(page_cli, pages_url, page):
    run = uuid.uuid4().hex[:6]
    high, critical = f"inc-high-{run}", f"inc-critical-{run}"
    for service in (high, critical):
        health(page_cli, service, "green")
    page.goto(f"{pages_url}/operational")
    expect(cell(page, critical)).to_have_attribute("data-status", "green", timeout=10_000)
    # The rule is on the page.
    legend = page.locator("#legend")
    expect(legend).to_contain_text("an open high incident names the service")
    expect(legend).to_contain_text("an open critical incident names the service")

    for service, severity in ((high, "high"), (critical, "critical")):
        publish(page_cli, "ops-incident-opened", "ops-hub", f"incident/{service}",
                {"title": f"{service} is slow", "severity": severity, "affected": [f"service/{service}"]})  # fmt: skip
    # The open page turns both cells without a reload, and each reason names its incident.
    expect(cell(page, high)).to_have_attribute("data-status", "amber", timeout=10_000)
    expect(cell(page, critical)).to_have_attribute("data-status", "red", timeout=10_000)
    expect(cell(page, high).locator(".reason")).to_have_text(f"open high incident: {high} is slow")
    expect(cell(page, critical).locator(".reason")).to_have_text(f"open critical incident: {critical} is slow")
    # The reason links to the incident's event.
    incident_link = page.locator(".timeline a", has_text=f"{critical} is slow").get_attribute("href")
    assert cell(page, critical).locator(".reason a").get_attribute("href") == incident_link
