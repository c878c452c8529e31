"""legal-hub against the session's real servers: the vendor register from TPSC files and the contract, and
the GDPR report's gaps appearing and disappearing as the missing facts are recorded — also as of a past
point and after a rebuild."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import uuid
from collections.abc import Callable
from typing import Any

import msgspec
import pytest

from vsmesh.bus.contract_client import ask
from vsmesh.bus.publisher import Publisher

HUB = "legal-hub"
TODAY = dt.datetime.now(dt.UTC).date()


@pytest.fixture
def unique() -> str:
    return uuid.uuid4().hex[:6]


async def until(check: Callable[[], Any], what: str, timeout: float = 20.0) -> Any:
    deadline = asyncio.get_running_loop().time() + timeout
    while asyncio.get_running_loop().time() < deadline:
        value = await check()
        if value:
            return value
        await asyncio.sleep(0.1)
    pytest.fail(f"timed out waiting for {what}")


async def gaps_about(nc, about: str, **request: Any) -> set[str]:
    report = await ask(nc, HUB, "get_gdpr_report", request)
    return {g["kind"] for g in report["gaps"] if g["about"] == about}


def csv_file(unique: str) -> str:
    past = (TODAY - dt.timedelta(days=3)).isoformat()
    return (
        "vendor,name,service,purpose,data_categories,personal_data,location,dpa_status,transfer_mechanism,review_by\n"
        f"host-{unique},Host GmbH,virtual servers,hosting,account data; logs,true,DE,signed,,2030-01-01\n"
        f"llm-{unique},LLM Inc,LLM API,agent model,prompts,true,us,pending,,2030-01-01\n"
        f"tool-{unique},Tool Ltd,issue tracker,planning,,false,GB,none,,{past}\n"
    )


async def test_tpsc_import_and_the_dpa_and_transfer_gaps_close_when_recorded(nc, cli, tmp_path, unique, running_mesh):
    path = tmp_path / "tpsc.csv"
    path.write_text(csv_file(unique))
    result = await asyncio.to_thread(cli, "legal", "import-tpsc", str(path), "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == {"vendors": 3, "published": 3, "already_imported": 0}

    # The US vendor processes personal data without a DPA and without a transfer mechanism; the German host
    # has neither gap; the tool's review date has passed.
    llm, host, tool = f"vendor/llm-{unique}", f"vendor/host-{unique}", f"vendor/tool-{unique}"
    await until(lambda: _has(nc, llm, {"no-dpa", "no-transfer-mechanism"}), "the LLM vendor's gaps")
    await until(lambda: _has(nc, tool, {"review-overdue"}), "the tool's overdue review")
    assert await gaps_about(nc, host) == set()
    # The same gap judged on a day before the review date is not there.
    assert await gaps_about(nc, tool, as_of=(TODAY - dt.timedelta(days=10)).isoformat()) == set()
    report = await ask(nc, HUB, "get_gdpr_report", {})
    gap = next(g for g in report["gaps"] if g["about"] == llm and g["kind"] == "no-dpa")
    vendor = next(v for v in report["vendors"] if v["vendor"] == f"llm-{unique}")
    assert gap["events"] == [vendor["event_id"]]  # the gap names the event it comes from

    # Re-importing the same file publishes nothing.
    again = await asyncio.to_thread(cli, "legal", "import-tpsc", str(path))
    assert "3 vendors, 0 published, 3 already imported" in again.output

    # Recording the DPA removes that gap from the next report; the transfer gap stays …
    signed = await asyncio.to_thread(cli, "legal", "record-dpa", f"llm-{unique}", "--signed-on", TODAY.isoformat())
    assert signed.exit_code == 0, signed.output
    await until(lambda: _has(nc, llm, {"no-transfer-mechanism"}), "the DPA gap to close")
    # … until the vendor is recorded with SCCs, through the contract's ingest_tpsc_tool.
    tool_row = {"vendor": f"llm-{unique}", "personal_data": True, "location": "US", "transfer_mechanism": "scc"}
    await ask(nc, HUB, "ingest_tpsc_tool", {"tool": tool_row})
    await until(lambda: _has(nc, llm, set()), "the transfer gap to close")


async def _has(nc, about: str, kinds: set[str]) -> bool:
    return await gaps_about(nc, about) == kinds


@pytest.mark.parametrize(
    ("name", "text", "expected"),
    [
        ("tpsc.csv", "vendor,personal_data,location\nok,false,DE\nbad,maybe,DE\n", ":3: personal_data: Input should"),
        ("tpsc.csv", "vendor,location\nok,Germany\n", ":2: location: String should match pattern"),
        ("tpsc.yaml", "vendors:\n- vendor: ok\n  location: DE\n- vendor: bad\n  dpa_status: singed\n",
         ":5: vendors.1.dpa_status: Input should be"),
        ("tpsc.yaml", "- vendor: ok\n  unknown_field: 1\n", ":2: 0.unknown_field: Extra inputs are not permitted"),
    ],
)  # fmt: skip
def test_bad_tpsc_files_are_refused_with_file_line_and_field(cli, tmp_path, name, text, expected):
    path = tmp_path / name
    path.write_text(text)
    result = cli("legal", "import-tpsc", str(path))
    assert result.exit_code == 1
    assert f"error: {path}{expected}" in result.output


async def test_coverage_gaps_for_services_agents_and_unknown_vendors(nc, settings, cli, unique, running_mesh):
    publisher = Publisher(nc.jetstream(), settings)
    service, agent, vendor = f"svc-{unique}", f"agent-{unique}", f"vendor-{unique}"
    # ops marks a service as handling personal data; an agent spends tokens; fin pays an unknown vendor.
    await publisher.publish(
        publisher.build("ops-inventory-updated", hub="ops-hub", subject=f"service/{service}",
                        data={"attributes": {"personal_data": True}})
    )  # fmt: skip
    spend = publisher.build(
        "fin-token-spend-recorded", hub="fin-hub", subject="domain/custodian",
        data={"provider": "anthropic", "model": "m", "tokens_in": 1, "tokens_out": 1,
              "cost": {"amount": "0.01", "currency": "EUR"}},
    )  # fmt: skip
    await publisher.publish(msgspec.structs.replace(spend, actor=agent, actorkind="agent"))
    cost = {"amount": {"amount": "10", "currency": "EUR"}, "vendor": vendor}
    await publisher.publish(publisher.build("fin-cost-recorded", hub="fin-hub", subject=None, data=cost))

    await until(lambda: _has(nc, f"service/{service}", {"service-not-covered"}), "the service coverage gap")
    await until(lambda: _has(nc, f"ai-system/{agent}", {"agent-not-registered"}), "the agent gap")
    await until(lambda: _has(nc, f"vendor/{vendor}", {"vendor-not-reviewed"}), "the unknown vendor gap")
    # The unknown vendor is also a risk on legal-hub.
    risks = (await ask(nc, HUB, "get_risks", {"entity": f"vendor/{vendor}"}))["risks"]
    assert [r["category"] for r in risks] == ["legal-vendor-not-reviewed"]

    # Each gap closes when the missing fact is recorded.
    recorded = await asyncio.to_thread(
        cli, "legal", "record-processing", f"act-{unique}", "--purpose", "support tickets",
        "--legal-basis", "contract", "--service", service, "--data-category", "email",
    )  # fmt: skip
    assert recorded.exit_code == 0, recorded.output
    await ask(nc, HUB, "register_ai_system", {"ai_actor": agent, "owner": "founder", "purpose": "custodian"})
    await ask(nc, HUB, "register_service", {"vendor": vendor, "location": "DE"})
    for about in (f"service/{service}", f"ai-system/{agent}", f"vendor/{vendor}"):
        await until(lambda about=about: _has(nc, about, set()), f"the gap about {about} to close")


async def test_report_is_the_same_after_a_rebuild_and_as_of_a_past_point(nc, cli, unique, running_mesh):
    vendor = f"late-{unique}"
    await ask(nc, HUB, "register_service", {"vendor": vendor, "personal_data": True, "location": "DE"})
    await until(lambda: _has(nc, f"vendor/{vendor}", {"no-dpa"}), "the DPA gap")
    await asyncio.sleep(1.1)  # the copy stops at a whole second before the DPA
    before_dpa = dt.datetime.now(dt.UTC).replace(microsecond=0)
    await asyncio.sleep(1.1)
    await ask(nc, HUB, "record_dpa", {"vendor": vendor, "signed_on": TODAY.isoformat()})
    await until(lambda: _has(nc, f"vendor/{vendor}", set()), "the DPA gap to close")

    live = await ask(nc, HUB, "get_gdpr_report", {})
    for hub in (HUB, "sec-hub"):
        rebuilt = await asyncio.to_thread(cli, "rebuild", hub)
        assert rebuilt.exit_code == 0, rebuilt.output
    assert await ask(nc, HUB, "get_gdpr_report", {}) == live

    # "What did our record say then?": a copy as of before the DPA still shows the gap.
    copy = f"audit-{unique}"
    built = await asyncio.to_thread(cli, "rebuild", HUB, "--into", copy, "--as-of", before_dpa.isoformat())
    assert built.exit_code == 0, built.output
    try:
        then = await asyncio.to_thread(cli, "legal", "report", "--as-of", copy, "--format", "json")
        assert then.exit_code == 0, then.output
        gaps = {g["kind"] for g in json.loads(then.stdout)["gaps"] if g["about"] == f"vendor/{vendor}"}
        assert gaps == {"no-dpa"}
        markdown = await asyncio.to_thread(cli, "legal", "report", "--as-of", copy)
        assert f"**no-dpa** vendor/{vendor}" in markdown.output
    finally:
        await asyncio.to_thread(cli, "rebuild", "--drop", copy)


async def test_the_demo_shows_real_gaps_and_sec_findings(nc, cli, running_mesh):
    # `vsmesh demo` on the session mesh (it publishes nothing twice).
    assert (await asyncio.to_thread(cli, "demo")).exit_code == 0
    expected = {
        "vendor/anthropic": {"no-dpa", "no-transfer-mechanism", "review-overdue"},
        "service/state-hub": {"service-not-covered"},
        "vendor/k3s support partner": {"vendor-not-reviewed"},
    }
    for about, kinds in expected.items():
        await until(lambda about=about, kinds=kinds: _has(nc, about, kinds), f"the demo's gaps about {about}")
    assert await gaps_about(nc, "service/gitea") == set()  # the git-hosting record covers it
    report = await asyncio.to_thread(cli, "legal", "report")
    assert "**no-dpa** vendor/anthropic" in report.output
    summary = await asyncio.to_thread(cli, "summary", "sec-hub", "--json")
    found = json.loads(summary.stdout)
    gitea = {f["rule"]: f["status"] for f in found["findings"] if f["service"] == "gitea"}
    assert gitea["CVE-2024-24790"] == "open"
    # The demo's exception accepts the openssl finding through its expiry day, and no longer the day after.
    # Judged at those days: the demo's dates are fixed, the calendar is not.
    exceptions = (await ask(nc, "sec-hub", "get_exceptions", {}))["exceptions"]
    [exception] = [e for e in exceptions if e["exception_id"] == "gitea-openssl"]
    last_day = dt.date.fromisoformat(exception["expires_on"])
    on, after = (await _openssl(nc, last_day)), (await _openssl(nc, last_day + dt.timedelta(days=1)))
    assert (on["status"], on["exception_id"]) == ("accepted", "gitea-openssl"), on
    assert (after["status"], after["exception_id"]) == ("open", None), after
    # The SOPS/age keys are past canon's 90 days; Gitea's critical finding is a risk in ops (CoulombCore is prod).
    assert "sops-age-keys" in [r["secret_set"] for r in found["overdue_rotations"]]

    async def ops_risk():
        risks = (await ask(nc, "ops-hub", "get_risks", {"entity": "service/gitea"}))["risks"]
        return [r for r in risks if r["category"] == "sec-critical-finding"]

    assert "CVE-2024-24790" in (await until(ops_risk, "gitea's ops risk"))[0]["title"]


async def _openssl(nc, day: dt.date) -> dict[str, Any]:
    """The demo's openssl finding on gitea as sec-hub judges it at noon (UTC) of `day`."""
    request = {"service": "gitea", "now": f"{day.isoformat()}T12:00:00+00:00"}
    found = (await ask(nc, "sec-hub", "get_findings", request))["findings"]
    [openssl] = [f for f in found if f["rule"] == "CVE-2024-0727"]
    return openssl
