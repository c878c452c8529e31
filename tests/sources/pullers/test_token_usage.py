"""The token-usage puller against a real local server answering recorded Anthropic and OpenAI admin-API responses
(usage in two pages, costs), into the session's running mesh: one `fin-token-spend-recorded` per agent, model
and closed day, as the agent; a re-pull stores nothing; a wrong key stores nothing and never shows the key."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from tests.sources.pullers.conftest import Answer, Recorded
from vsmesh.bus.connection import connect
from vsmesh.bus.contract_client import ask
from vsmesh.errors import SourceUnavailable
from vsmesh.sources.pullers.jobs import pull
from vsmesh.sources.pullers.model import parse_puller_file

NOW = dt.datetime(2026, 12, 7, 9, 0, tzinfo=dt.UTC)  # the recordings hold 5 and 6 December, and today's first hours
KEY = "sk-ant-admin01-recorded-key"
ENV = {"ADMIN_KEY": KEY}
WORKSPACE = "wrkspc_01JwQvzr7rXLA5AGx3HKfFUJ"
PROJECT = "proj_Yb2vN4qQ8mK1xT7cR5dL0sWe"


def puller(recorded: Recorded, provider: str, group: str, agent: str, unmapped: str = "record"):
    text = f"""
pullers:
  - name: tokens-{provider}-{recorded.u}
    kind: token-usage
    provider: {provider}
    url: {recorded.url}
    days: 3
    api_key: {{env: ADMIN_KEY}}
    agents: {{{group}: {agent}}}
    unmapped: {unmapped}
"""
    return parse_puller_file(text).pullers[0]


def serve_anthropic(recorded: Recorded) -> None:
    usage = "/v1/organizations/usage_report/messages"
    recorded.token, recorded.unauthorized = KEY, "anthropic-401.json"
    recorded.routes.update({
        usage: Answer("anthropic-usage-page1.json"),
        f"{usage}?page=page_MjAyNi0xMi0wNlQwMDowMDowMFo=": Answer("anthropic-usage-page2.json"),
        "/v1/organizations/cost_report": Answer("anthropic-cost-report.json"),
    })  # fmt: skip


async def test_anthropic_spend_per_agent_model_and_day_once(settings, running_mesh, recorded):
    serve_anthropic(recorded)
    agent = f"release-bot-{recorded.u}"
    p = puller(recorded, "anthropic", WORKSPACE, agent)
    nc = await connect(settings)
    try:
        plan, stored = await pull(p, nc, settings, ENV, now=NOW)
        found = {(e.actor, e.data["model"], e.data["metadata"]["incurred_on"]): e for e in plan.events}
        # The mapped workspace's spend is the agent's; the default workspace's is recorded as its own; today is not.
        assert sorted(found) == [
            ("anthropic:default", "claude-3-5-haiku-20241022", "2026-12-05"),
            (agent, "claude-sonnet-4-20250514", "2026-12-05"),
            (agent, "claude-sonnet-4-20250514", "2026-12-06"),  # from the usage report's second page
            (agent, "web_search", "2026-12-05"),
        ]
        sonnet = found[(agent, "claude-sonnet-4-20250514", "2026-12-05")]
        # Input counts uncached, both cache writes and cache reads; the cost report's cents become dollars.
        assert (sonnet.data["tokens_in"], sonnet.data["tokens_out"]) == (1_134_553, 64_118)
        assert sonnet.data["cost"] == {"amount": "1.9331784", "currency": "USD"} and sonnet.actor_kind == "agent"
        assert found[("anthropic:default", "claude-3-5-haiku-20241022", "2026-12-05")].actor_kind == "service"
        assert len(stored) == 4
        # fin-hub holds the agent's month of spend (what canon's agent threshold judges).
        wait = {stored[-1].stream: max(s.sequence for s in stored)}
        spend = (await ask(nc, "fin-hub", "get_agent_spend", {"currency": "USD", "wait_for_seq": wait}))["agent_spend"]
        mine = [s for s in spend if s["actor"] == agent]
        assert [(s["month"], Decimal(str(s["spent"])), s["events"]) for s in mine] == [
            ("2026-12", Decimal("2.8874028"), 3)
        ]
        # A re-pull: fin-hub knows every one, nothing is stored.
        again, stored_again = await pull(p, nc, settings, ENV, now=NOW)
        assert again.events == [] and stored_again == []
    finally:
        await nc.close()


async def test_openai_spend_per_project_with_unmapped_skipped(settings, running_mesh, recorded):
    usage = "/v1/organization/usage/completions"
    recorded.token = KEY
    recorded.routes.update({
        usage: Answer("openai-usage-page1.json"),
        f"{usage}?page=page_AAAAAGdGxdEiJdKOAAAAAGcqsYA=": Answer("openai-usage-page2.json"),
        "/v1/organization/costs": Answer("openai-costs.json"),
    })  # fmt: skip
    agent = f"support-bot-{recorded.u}"
    p = puller(recorded, "openai", PROJECT, agent, unmapped="skip")
    nc = await connect(settings)
    try:
        plan, _ = await pull(p, nc, settings, ENV, now=NOW)
        assert [(e.actor, e.data["model"], e.data["metadata"]["incurred_on"], e.data["cost"]["amount"],
                 e.data["tokens_in"], e.data["tokens_out"]) for e in plan.events] == [
            (agent, "gpt-4o-mini-2024-07-18", "2026-12-05", "0.1300815", 412_330, 88_120),
            (agent, "gpt-4o-mini-2024-07-18", "2026-12-06", "0.0556932", 210_044, 40_311),
        ]  # fmt: skip
        # The project-less o3-mini use is mapped to no agent: skipped, and said so.
        assert plan.skipped == [
            "default: no agent is mapped to it (agents:), o3-mini-2025-01-31 on 2026-12-06 not recorded"
        ]
        # The usage was asked (with the admin key as a bearer token: the server checks it) for the closed days.
        window = "start_time=1796342400&end_time=1796601600&bucket_width=1d"  # 4 December 00:00 to today's
        assert any(r.startswith(f"{usage}?{window}") for r in recorded.requests)
    finally:
        await nc.close()


async def test_a_wrong_key_stores_nothing_and_is_never_shown(settings, running_mesh, recorded):
    serve_anthropic(recorded)
    p = puller(recorded, "anthropic", WORKSPACE, f"wrong-key-{recorded.u}")
    nc = await connect(settings)
    try:
        with pytest.raises(SourceUnavailable) as refused:
            await pull(p, nc, settings, {"ADMIN_KEY": "sk-ant-admin01-revoked"}, now=NOW)
        message = str(refused.value)
        assert message.startswith(f"Anthropic's usage report at {recorded.url}/v1/organizations/usage_report/messages "
                                  "answered HTTP 401: ")  # fmt: skip
        assert "authentication_error" in message and "revoked" not in message and KEY not in message
    finally:
        await nc.close()


async def test_a_report_not_in_the_providers_format_is_refused_whole(settings, running_mesh, recorded):
    serve_anthropic(recorded)
    recorded.routes["/v1/organizations/cost_report"] = Answer("anthropic-cost-report-malformed.json")
    p = puller(recorded, "anthropic", WORKSPACE, f"malformed-{recorded.u}")
    nc = await connect(settings)
    try:
        # One cost row's amount is "n/a": nothing is half counted, the pull says why in one line.
        with pytest.raises(SourceUnavailable, match="^anthropic's usage or cost report is not in its format"):
            await pull(p, nc, settings, ENV, now=NOW)
    finally:
        await nc.close()
