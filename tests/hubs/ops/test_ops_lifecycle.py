"""Incidents with their timeline, migration readiness and health staleness, asked over NATS and the CLI."""

import asyncio
import datetime as dt
import json

import pytest

from vsmesh.errors import ContractError


async def test_incident_moves_from_open_to_resolved_with_a_timeline(ops, unique):
    svc = f"service/inc-{unique}"
    await ops.publish("ops-health-checked", svc, status="green")
    opened = await ops.publish("ops-incident-opened", svc, title=f"down {unique}", severity="high", affected=[svc])
    # While open it is listed, and the affected service points at it.
    [incident] = (await ops.ask("get_incidents", incident_id=opened))["incidents"]
    assert (incident["status"], incident["severity"]) == ("open", "high")
    assert (
        opened in next(s for s in (await ops.ask("get_services"))["services"] if s["entity"] == svc)["open_incidents"]
    )

    await ops.publish("ops-incident-updated", svc, incident_id=opened, status="investigating", note="looking")
    await ops.publish("ops-incident-updated", svc, incident_id=opened, status="mitigated", severity="medium")
    await ops.publish("ops-incident-resolved", svc, incident_id=opened, resolution="restarted", root_cause="oom")

    # Resolved: gone from the open list, kept with every step of its timeline in order.
    open_ids = [i["incident_id"] for i in (await ops.ask("get_incidents"))["incidents"]]
    assert opened not in open_ids
    [incident] = (await ops.ask("get_incidents", incident_id=opened))["incidents"]
    assert (incident["status"], incident["severity"], incident["root_cause"]) == ("resolved", "medium", "oom")
    assert [t["status"] for t in incident["timeline"]] == ["open", "investigating", "mitigated", "resolved"]
    assert [t["note"] for t in incident["timeline"]][1:] == ["looking", None, "restarted"]


async def test_a_wave_may_proceed_only_when_all_its_gates_pass(ops, unique, cli):
    wave, first, second = f"wave-{unique}", f"dns-{unique}", f"backup-{unique}"
    await ops.publish("ops-inventory-registered", f"migration-wave/{wave}", kind="migration-wave", name=wave)
    # A wave without gates proves nothing.
    assert (await ops.ask("get_readiness", wave=wave))["may_proceed"] is False

    proof = await ops.publish("ops-backup-verified", f"backup-set/{unique}", backup_set=unique, verdict="passed")
    gate = {"migration_wave": wave, "owner_repo": "railiance-infra", "evidence_required": "a proof"}
    await ops.publish("ops-readiness-gate-updated", None, gate=first, status="green", **gate)
    await ops.publish(
        "ops-readiness-gate-updated", None, gate=second, status="amber", evidence_event_ids=[proof], **gate
    )
    ready = await ops.ask("get_readiness", wave=wave)
    assert (ready["may_proceed"], ready["blockers"], ready["passing"], ready["total"]) == (False, [second], 1, 2)
    evidence = next(g for g in ready["gates"] if g["gate"] == second)["evidence"]
    assert evidence[0]["event_id"] == proof and evidence[0]["kind"] == "backup" and evidence[0]["current"]

    await ops.publish("ops-readiness-gate-updated", None, gate=second, status="green", migration_wave=wave)
    assert (await ops.ask("get_readiness", wave=wave))["may_proceed"] is True
    # A failed wave verdict blocks again until the gate passes.
    await ops.publish("ops-migration-gate-failed", None, wave=wave, gate=first, reason="TLS not codified")
    blocked = await ops.ask("get_readiness", wave=wave)
    assert blocked["blockers"] == [first] and blocked["gates"][1]["owner_repo"] == "railiance-infra"
    await ops.publish("ops-migration-gate-passed", None, wave=wave, gate=first)
    await ops.ask("get_readiness", wave=wave)  # applied

    result = await asyncio.to_thread(cli, "ops", "readiness", wave, "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["may_proceed"] is True
    human = await asyncio.to_thread(cli, "ops", "readiness", wave)
    assert "2/2 gates passing; may proceed" in human.stdout
    unknown = await asyncio.to_thread(cli, "ops", "readiness", f"nowave-{unique}")
    assert unknown.exit_code == 1 and f"knows no migration wave 'nowave-{unique}'" in unknown.stderr


async def test_health_turns_amber_then_red_as_evidence_ages(ops, unique):
    svc = f"stale-{unique}"
    await ops.publish("ops-health-checked", f"service/{svc}", status="green")
    checked = ops.last.time

    async def status_at(minutes: float) -> str:
        now = (checked + dt.timedelta(minutes=minutes)).isoformat()
        [service] = (await ops.ask("get_services", name=svc, now=now))["services"]
        summary = await ops.ask("get_domain_summary", now=now)
        assert next(s for s in summary["services"] if s["name"] == svc)["status"] == service["status"]
        return service["status"]

    # Defaults: amber after 60 minutes, red after 1440; the clock is the request's.
    assert [await status_at(m) for m in (0, 59, 61, 1439, 1441)] == ["green", "green", "amber", "amber", "red"]
    # Fresh evidence restores green; an observed red stays red however fresh.
    await ops.publish("ops-health-checked", f"service/{svc}", status="red")
    checked = ops.last.time
    assert await status_at(1) == "red"


async def test_bad_readiness_and_services_requests_are_named(ops):
    with pytest.raises(ContractError, match="wave") as missing:
        await ops.ask("get_readiness")
    assert missing.value.code == "invalid_request"
    with pytest.raises(ContractError, match="now"):
        await ops.ask("get_services", now="yesterday")
