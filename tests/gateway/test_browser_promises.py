"""What the README promises of the pages the session's `vsmesh up` serves, in real chromium: they work without
JavaScript, the sign-in's cookie is HttpOnly and SameSite=Lax, and one live view renders an update once for
every browser showing it. (A file of its own: test_pages*.py belong to the pages' own work.)"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable

import httpx
from playwright.sync_api import Page, expect
from prometheus_client.parser import text_string_to_metric_families

from tests.gateway.conftest import cell, health, publish
from vsmesh.gateway.identity.signin import FLOW_COOKIE, SESSION_COOKIE
from vsmesh.gateway.pages.pages import PAGES


def reloaded_until(page: Page, url: str, shown: Callable[[], bool], timeout: float = 30.0) -> None:
    """Load `url` again until `shown()`: how a browser without JavaScript sees what the mesh applied since."""
    deadline = time.monotonic() + timeout
    while True:
        page.goto(url)
        if shown():
            return
        assert time.monotonic() < deadline, f"{url} did not show it within {timeout} s"
        time.sleep(0.2)


def test_the_pages_work_without_javascript(page_cli, pages_url, chromium):
    run = uuid.uuid4().hex[:6]
    service, blocker, policy = f"plain-svc-{run}", f"plain blocker {run}", f"plain-policy-{run}"
    health(page_cli, service, "amber")
    publish(page_cli, "dev-blocker-raised", "dev-hub", f"blocker/plain-{run}", {"title": blocker, "severity": "high"})
    publish(page_cli, "fin-cost-recorded", "fin-hub", f"service/{service}",
            {"amount": {"amount": "77.12", "currency": "EUR"}, "category": "hosting", "period": "2026-11",
             "service": service})  # fmt: skip
    publish(page_cli, "canon-policy-declared", "canon-hub", f"policy/{policy}",
            {"policy": policy, "title": "plain", "metadata": {"values": {"plain_limit": 3}}})  # fmt: skip

    context = chromium.new_context(java_script_enabled=False, viewport={"width": 1280, "height": 900})
    try:
        page = context.new_page()
        main = page.locator("main")
        # Each horizon's page as the server rendered it, with the data just published.
        reloaded_until(page, f"{pages_url}/operational", lambda: cell(page, service).count() == 1)
        expect(cell(page, service)).to_have_attribute("data-status", "amber")
        expect(cell(page, service).locator(".word")).to_have_text("amber")
        reloaded_until(page, f"{pages_url}/tactical", lambda: blocker in main.inner_text())
        reloaded_until(page, f"{pages_url}/strategic", lambda: page.locator(f'[data-cost-service="{service}"]').count())
        expect(page.locator(f'[data-cost-service="{service}"]')).to_contain_text("77.12 EUR")
        reloaded_until(page, f"{pages_url}/constitutional", lambda: page.locator(f'[data-policy="{policy}"]').count())
        expect(page.locator(f'[data-policy="{policy}"]')).to_contain_text("plain_limit = 3")
        page.goto(f"{pages_url}/hubs")
        for hub in ("ops-hub", "dev-hub", "fin-hub", "canon-hub"):
            expect(main).to_contain_text(hub)
        for slug in PAGES:  # every page, and each one's heading, in this browser too
            page.goto(f"{pages_url}/{slug}")
            expect(page.locator("h1")).to_contain_text(PAGES[slug].title)
        # No script ran: the live script marks the page once its stream is open.
        assert page.locator("body").get_attribute("data-connected") is None
    finally:
        context.close()


def test_the_sign_in_keeps_its_token_where_no_script_reads_it(page_cli, pages_url, chromium, session_dir):
    person = f"cookie-{uuid.uuid4().hex[:6]}"
    added = page_cli("user", "add", person, "--password", "correct horse", "--data-dir", str(session_dir / "up"))
    assert added.exit_code == 0, added.output

    context = chromium.new_context()
    try:
        page = context.new_page()
        page.goto(f"{pages_url}/strategic")
        page.get_by_role("link", name="Sign in").click()
        expect(page.get_by_role("heading", name="Sign in to vsmesh")).to_be_visible()
        page.get_by_label("User name").fill(person)
        page.get_by_label("Password").fill("correct horse")
        page.get_by_role("button", name="Sign in").click()
        expect(page.locator(".banner.signed-in")).to_contain_text(f"Signed in as {person}")
        assert page.url == f"{pages_url}/strategic"

        cookies = {c["name"]: c for c in context.cookies()}
        assert FLOW_COOKIE not in cookies  # the sign-in's own state is gone once it is done
        session = cookies[SESSION_COOKIE]
        # HttpOnly: no script of the page reads the token; Lax: another site's form post does not carry it.
        assert (session["httpOnly"], session["sameSite"], session["path"]) == (True, "Lax", "/")
        assert session["secure"] is False  # plain http on loopback; https sets it
        assert SESSION_COOKIE not in page.evaluate("document.cookie")
        assert (
            httpx.get(f"{pages_url}/whoami", headers={"Authorization": f"Bearer {session['value']}"}).json()["subject"]
            == person
        )
    finally:
        context.close()


def render_and_batch_counts(pages_url: str, slug: str, hub: str) -> tuple[int, int]:
    """From the mesh's /metrics: renders of `slug`'s live view, and live batches `hub` applied."""
    renders = batches = 0
    for family in text_string_to_metric_families(httpx.get(f"{pages_url}/metrics").text):
        for sample in family.samples:
            if sample.name == "vsmesh_page_render_seconds_count" and sample.labels["page"] == slug:
                renders += int(sample.value)
            elif sample.name == "vsmesh_projector_batch_seconds_count" and sample.labels["hub"] == hub:
                batches += int(sample.value)
    return renders, batches


def settled(pages_url: str, slug: str, hub: str) -> tuple[int, int]:
    """The counts once nothing moved for a second (a batch just applied may still be rendering)."""
    last, since = render_and_batch_counts(pages_url, slug, hub), time.monotonic()
    deadline = since + 30
    while time.monotonic() - since < 1.0:
        assert time.monotonic() < deadline, f"{slug}'s renders never settled"
        time.sleep(0.2)
        now = render_and_batch_counts(pages_url, slug, hub)
        if now != last:
            last, since = now, time.monotonic()
    return last


def test_one_live_view_renders_an_update_once_for_two_browsers(page_cli, pages_url, chromium):
    slug, hub = "tactical", "dev-hub"
    browsers = [chromium.new_context() for _ in range(2)]
    try:
        pages = [context.new_page() for context in browsers]
        for page in pages:
            page.goto(f"{pages_url}/{slug}")
            expect(page.locator("body")).to_have_attribute("data-connected", "yes", timeout=10_000)
        renders, batches = settled(pages_url, slug, hub)

        title = f"seen twice {uuid.uuid4().hex[:6]}"
        publish(page_cli, "dev-blocker-raised", "dev-hub", f"blocker/{title[-6:]}", {"title": title})
        for page in pages:  # both updated without a reload
            expect(page.locator("main")).to_contain_text(title, timeout=15_000)
        renders_after, batches_after = settled(pages_url, slug, hub)
    finally:
        for context in browsers:
            context.close()
    rendered, applied = renders_after - renders, batches_after - batches
    # One render per batch at most (batches arriving during a render share the next), whatever the number of
    # browsers: a view per browser would render each batch twice.
    assert 1 <= rendered <= applied, f"{rendered} renders of {slug} for {applied} batches of {hub}, two browsers"
