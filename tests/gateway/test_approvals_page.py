"""A person approves a held call from the constitutional page, in real chromium, signed in at the gateway's
issuer; a browser nobody signed in to cannot. The agent's call goes through the session's `vsmesh up` gateway
with the `mcp` SDK's client (on a thread of its own: Playwright's sync API holds this thread's event loop)."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import httpx
from playwright.sync_api import expect

from tests.gateway.conftest import mcp_client, publish
from tests.gateway.front_door import FrontDoor, once_allowed
from tests.gateway.test_browser_promises import reloaded_until


def held_call(door: FrontDoor, agent: str) -> str:
    """The agent's fin-hub__record_cost above its mandate's approve condition: the approval's id."""

    async def call() -> str:
        token = await door.agent_token(agent)
        async with mcp_client(door.url, token) as client:
            answer = await once_allowed(client, "fin-hub__record_cost", {"amount": "650", "vendor": f"v-{agent}"})
        assert not answer.is_error, answer.content[0].text
        return answer.structured_content["approval"]["approval_id"]

    with ThreadPoolExecutor(1) as thread:
        return thread.submit(asyncio.run, call()).result(120)


def approval(page_cli, approval_id: str) -> dict:
    done = page_cli("approvals", "--status", "all", "--json", "--limit", "1000")
    assert done.exit_code == 0, done.output
    return next(a for a in json.loads(done.stdout) if a["approval_id"] == approval_id)


def test_a_signed_in_person_approves_a_held_call_on_the_constitutional_page(page_cli, pages_url, chromium, session_dir):
    run = uuid.uuid4().hex[:6]
    agent, person = f"page-agent-{run}", f"page-person-{run}"
    data = {"role": "Spender", "holder": agent, "scope": "fin-hub:record_cost",
            "approve": ["fin-hub:record_cost amount > 500 EUR"]}  # fmt: skip
    publish(page_cli, "canon-mandate-granted", "canon-hub", f"mandate/{agent}", data)
    added = page_cli("user", "add", person, "--password", "correct horse", "--data-dir", str(session_dir / "up"))
    assert added.exit_code == 0, added.output
    approval_id = held_call(FrontDoor(pages_url, session_dir / "up", page_cli), agent)

    # A browser on this machine reads without signing in, but decides nothing.
    anonymous = httpx.post(f"{pages_url}/approvals/{approval_id}/approve", data={"arguments_hash": "x"})
    assert anonymous.status_code == 403 and "only a signed-in person decides a held call" in anonymous.text

    context = chromium.new_context()
    try:
        page = context.new_page()
        page.goto(f"{pages_url}/constitutional")
        page.get_by_role("link", name="Sign in").click()
        page.get_by_label("User name").fill(person)
        page.get_by_label("Password").fill("correct horse")
        page.get_by_role("button", name="Sign in").click()
        expect(page.locator(".banner.signed-in")).to_contain_text(f"Signed in as {person}")
        row = page.locator(f'[data-approval="{approval_id}"]')
        reloaded_until(page, f"{pages_url}/constitutional", lambda: row.count() == 1)
        expect(row).to_contain_text("fin-hub:record_cost amount > 500 EUR")
        expect(row).to_contain_text('"amount": "650"')
        row.get_by_role("button", name="Approve").click()
        expect(page.locator("h1")).to_contain_text("Canon")
        assert page.url == f"{pages_url}/constitutional"
    finally:
        context.close()

    # The decision is the signed-in person's, and the gateway ran the call.
    deadline = time.monotonic() + 30
    while (found := approval(page_cli, approval_id))["status"] != "executed":
        assert time.monotonic() < deadline, f"approval {approval_id} is {found['status']}"
        time.sleep(0.2)
    assert found["decided_by"] == person and found["result_event_id"]
