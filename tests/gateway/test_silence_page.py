"""A person silences an event's notifications from its page, in real chromium, signed in at the gateway's issuer:
the silence is theirs, canon holds it, and the page shows it; a browser nobody signed in to cannot set one, and a
time nobody can read is refused in one line."""

from __future__ import annotations

import json
import uuid

import httpx
from playwright.sync_api import expect

from tests.gateway.conftest import publish
from tests.gateway.test_browser_promises import reloaded_until


def test_a_signed_in_person_silences_an_events_notifications_from_its_page(page_cli, pages_url, chromium, session_dir):
    run = uuid.uuid4().hex[:6]
    service, person = f"silenced-{run}", f"silencer-{run}"
    added = page_cli("user", "add", person, "--password", "correct horse", "--data-dir", str(session_dir / "up"))
    assert added.exit_code == 0, added.output
    # An incident: dev-hub's coupling makes a blocker of it, so its chain (and its hub and entity) is on record.
    data = {"title": f"{service} down", "severity": "high", "affected": [f"service/{service}"]}
    incident = publish(page_cli, "ops-incident-opened", "ops-hub", f"service/{service}", data)["id"]
    url = f"{pages_url}/event/{incident}"

    # A browser on this machine reads the page without signing in, but silences nothing.
    anonymous = httpx.post(f"{url}/silence", data={"entity": f"service/{service}", "until": "2h", "reason": "x"})
    assert anonymous.status_code == 403 and "only a signed-in person sets a silence" in anonymous.text

    context = chromium.new_context()
    try:
        page = context.new_page()
        page.goto(url)
        page.get_by_role("link", name="Sign in").click()
        page.get_by_label("User name").fill(person)
        page.get_by_label("Password").fill("correct horse")
        page.get_by_role("button", name="Sign in").click()
        expect(page.locator(".banner.signed-in")).to_contain_text(f"Signed in as {person}")
        # The form starts from the event's hub and entity, once the chain holds it.
        reloaded_until(page, url, lambda: page.get_by_label("Entity").input_value() == f"service/{service}")
        expect(page.get_by_label("Hub")).to_have_value("ops-hub")

        # A time nobody can read is refused, saying how to write one.
        page.get_by_label("Until").fill("soon")
        page.get_by_label("Reason").fill("registry migration")
        page.get_by_role("button", name="Silence").click()
        expect(page.get_by_text("not silenced: until 'soon': give a duration (2h, 3d) or an ISO time")).to_be_visible()

        page.goto(url)
        page.get_by_label("Until").fill("3h")
        page.get_by_label("Reason").fill("registry migration")
        page.get_by_role("button", name="Silence").click()
        expect(page.get_by_role("status")).to_contain_text("set: what it matches is recorded as suppressed")
        silence_id = page.get_by_role("status").locator("code").inner_text()
        # Once canon-hub applied it, the event's page shows who holds its notifications back and why.
        shown = page.locator(f'[data-silence="{silence_id}"]')
        reloaded_until(page, url, lambda: shown.count() == 1)
        expect(shown).to_contain_text(f"by {person}")
        expect(shown).to_contain_text("registry migration")
    finally:
        context.close()

    # The silence is the signed-in person's, on the event's hub and entity, caused by the event.
    listed = page_cli("notify", "silences", "--json")
    assert listed.exit_code == 0, listed.output
    [mine] = [s for s in json.loads(listed.stdout) if s["silence_id"] == silence_id]
    assert mine["author"] == person and mine["reason"] == "registry migration"
    assert mine["matchers"] == {"hub": "ops-hub", "entity": f"service/{service}"}
