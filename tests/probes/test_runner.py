"""The runner against the session's mesh: evidence on ops-hub, one alert per failing probe, certificate
risks, gates that follow their probes, and a restart that re-raises nothing."""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path

from tests.probes.conftest import until
from vsmesh.bus.contract_client import ask
from vsmesh.bus.publisher import Publisher
from vsmesh.probes.model import parse_probe_file
from vsmesh.probes.runner import Identity, ProbeRunner, unchanged_every


def runner(nc, settings, text: str) -> ProbeRunner:
    return ProbeRunner(parse_probe_file(text), nc, settings, {}, identity=Identity(settings.probes_actor))


async def alerts_of(nc, entity: str) -> list[dict]:
    return (await ask(nc, "ops-hub", "get_alerts", {"entity": entity}))["alerts"]


async def test_registry_check_evidence_shows_green_and_red_in_ops_services(nc, settings, http_port, u):
    # The inventory: a service with two endpoints, one that answers like a registry and one that does not.
    publisher = Publisher(nc.jetstream(), settings)
    for subject, data in (
        (f"service/reg-{u}", {"kind": "service", "name": f"reg-{u}"}),
        (f"endpoint/reg-{u}-v2", {"kind": "endpoint", "name": f"reg-{u}-v2", "attributes": {"service": f"reg-{u}"}}),
        (
            f"endpoint/reg-{u}-bare",
            {"kind": "endpoint", "name": f"reg-{u}-bare", "attributes": {"service": f"reg-{u}"}},
        ),
    ):
        await publisher.publish(publisher.build("ops-inventory-registered", hub="ops-hub", subject=subject, data=data))
    text = f"""
probes:
  - name: reg-{u}-v2
    entity: endpoint/reg-{u}-v2
    kind: http
    url: http://127.0.0.1:{http_port}/v2/
    conditions: ["[STATUS] == 401", "[HEADER:Docker-Distribution-Api-Version] == registry/2.0"]
  - name: reg-{u}-bare
    entity: endpoint/reg-{u}-bare
    kind: http
    url: http://127.0.0.1:{http_port}/v2-bare/
    conditions: ["[STATUS] == 401", "[HEADER:Docker-Distribution-Api-Version] == registry/2.0"]
"""
    probes = runner(nc, settings, text)
    results = await probes.run_once()
    assert [r.passed for r in results] == [True, False]

    async def service():
        found = (await ask(nc, "ops-hub", "get_services", {"name": f"reg-{u}"}))["services"]
        return found[0] if found and len(found[0]["evidence"]) == 2 else None

    shown = await until(service, "both endpoints' evidence")
    by_endpoint = {e["name"]: e["status"] for e in shown["endpoints"]}
    assert by_endpoint == {f"reg-{u}-v2": "green", f"reg-{u}-bare": "red"}
    assert shown["status"] == "red"  # the worst of its evidence
    # The evidence says which probe, which conditions held and what was seen; the actor is the runner.
    evidence = (await ask(nc, "ops-hub", "get_evidence", {"entity": f"endpoint/reg-{u}-bare"}))["evidence"][0]
    assert evidence["actor"] == settings.probes_actor
    probe = evidence["detail"]["metadata"]["probe"]
    assert probe["name"] == f"reg-{u}-bare"
    assert [(c["held"], c["observed"]) for c in probe["conditions"]] == [(True, 401), (False, None)]
    assert evidence["detail"]["expected_headers"] == {"Docker-Distribution-Api-Version": "registry/2.0"}


async def test_a_failing_probe_raises_one_alert_resolves_it_once_and_a_restart_reraises_nothing(
    nc, settings, tmp_path: Path, u
):
    backups = tmp_path / "backups"
    backups.mkdir()
    entity = f"backup-set/db-{u}"
    text = f"""
probes:
  - name: backup-{u}
    entity: {entity}
    kind: backup
    path: {backups}
    conditions: ["[BACKUP_AGE] < 26h"]
"""
    first = runner(nc, settings, text)
    await first.recover()
    await first.run_once()
    await first.run_once()  # still failing: no second alert
    raised = await until(lambda: alerts_of(nc, entity), "the alert")
    assert len(raised) == 1 and raised[0]["status"] == "raised"

    # A restart: a new runner recovers the open alert from ops-hub instead of raising another.
    second = runner(nc, settings, text)
    await second.recover()
    assert second.consequences.open_alerts == {f"backup-{u}": raised[0]["alert_id"]}
    await second.run_once()

    (backups / "fresh.dump").write_bytes(b"x")
    await second.run_once()
    await second.run_once()

    async def resolved():
        found = await alerts_of(nc, entity)
        return found if found and found[0]["status"] == "resolved" else None

    found = await until(resolved, "the alert resolved")
    assert len(found) == 1 and found[0]["alert_id"] == raised[0]["alert_id"]
    assert first.stats.published + second.stats.published >= 3


async def test_an_expiring_certificate_is_a_risk_raised_once(nc, settings, https_expiring, u):
    entity = f"endpoint/cert-{u}"
    text = f"""
probes:
  - name: cert-{u}
    entity: {entity}
    kind: tls
    host: localhost
    port: {https_expiring.port}
    ca_file: {https_expiring.ca_file}
    conditions: ["[CERTIFICATE_VALID] == true", "[HOSTNAME_MATCH] == true"]
"""
    probes = runner(nc, settings, text)
    results = await probes.run_once()
    assert results[0].passed  # the probe's own conditions hold; the expiry is a risk, not a failure
    await probes.run_once()

    async def risks():
        return (await ask(nc, "ops-hub", "get_risks", {"entity": entity}))["risks"]

    found = await until(risks, "the certificate risk")
    await asyncio.sleep(0.3)  # room for a wrong second risk to arrive
    found = await risks()
    assert len(found) == 1
    assert found[0]["category"] == "ops-certificate-expiry" and "expires in 3.0 days" in found[0]["title"]


async def test_a_readiness_gate_follows_its_probes(nc, settings, tcp_port, tmp_path: Path, u):
    backups = tmp_path / "b"
    backups.mkdir()
    text = f"""
probes:
  - name: ssh-{u}
    entity: access-path/ssh-{u}
    kind: tcp
    host: 127.0.0.1
    port: {tcp_port}
    conditions: ["[CONNECTED] == true"]
  - name: backup-{u}
    entity: backup-set/gate-{u}
    kind: backup
    path: {backups}
    conditions: ["[BACKUP_COUNT] >= 1"]
gates:
  - gate: gate-{u}
    wave: wave-{u}
    probes: [ssh-{u}, backup-{u}]
    evidence_required: an SSH path and a backup
"""
    probes = runner(nc, settings, text)

    async def gate(status: str):
        answer = await ask(nc, "ops-hub", "get_readiness", {"wave": f"wave-{u}"})
        return answer if answer["gates"][0]["status"] == status else None

    await probes.run_once()
    red = await until(lambda: _quiet(gate("red")), "the gate red")
    assert not red["may_proceed"] and "backup-" in red["gates"][0]["note"]

    (backups / "x.dump").write_bytes(b"x")
    await probes.run_once()
    green = await until(lambda: _quiet(gate("green")), "the gate green")
    assert green["may_proceed"]
    # The gate names the evidence behind it: both probes' current results.
    evidence = green["gates"][0]["evidence"]
    assert len(evidence) == 2 and all(e["current"] and e["status"] == "green" for e in evidence)


async def test_a_negative_condition_against_a_dead_server_is_red_alerts_and_turns_its_gate_red(
    nc, settings, closed_port, u
):
    # "Anything but a server error" must not read as healthy when the server does not answer at all.
    entity = f"endpoint/dead-{u}"
    text = f"""
probes:
  - name: dead-{u}
    entity: {entity}
    kind: http
    url: http://127.0.0.1:{closed_port}/
    conditions: ["[STATUS] != 500"]
gates:
  - gate: dead-{u}
    wave: dead-wave-{u}
    probes: [dead-{u}]
"""
    [result] = await runner(nc, settings, text).run_once()
    assert not result.passed and result.outcomes == [{"condition": "[STATUS] != 500", "held": False, "observed": None}]

    async def red_gate():
        answer = await ask(nc, "ops-hub", "get_readiness", {"wave": f"dead-wave-{u}"})
        return answer if answer["gates"][0]["status"] == "red" else None

    gate = await until(lambda: _quiet(red_gate()), "the gate red")
    assert not gate["may_proceed"] and f"probes failing: dead-{u}" in gate["gates"][0]["note"]
    [alert] = await until(lambda: alerts_of(nc, entity), "the alert")
    assert alert["status"] == "raised" and alert["description"].startswith("cannot connect")
    [evidence] = (await ask(nc, "ops-hub", "get_evidence", {"entity": entity}))["evidence"]
    assert evidence["status"] == "red"


async def _quiet(check):
    try:
        return await check
    except Exception:  # noqa: BLE001 - the wave is unknown until the first gate event is applied
        return None


async def test_ops_services_and_the_summary_show_certificate_expiry_and_backup_age(
    nc, settings, https_expiring, tmp_path: Path, u
):
    publisher = Publisher(nc.jetstream(), settings)
    name = f"svc-{u}"
    for subject, data in (
        (f"service/{name}", {"kind": "service", "name": name}),
        (f"endpoint/{name}-web", {"kind": "endpoint", "name": f"{name}-web", "attributes": {"service": name}}),
        (f"backup-set/{name}-db", {"kind": "backup-set", "name": f"{name}-db", "attributes": {"service": name}}),
    ):
        await publisher.publish(publisher.build("ops-inventory-registered", hub="ops-hub", subject=subject, data=data))
    backups = tmp_path / "db"
    backups.mkdir()
    dump = backups / "db.dump"
    dump.write_bytes(b"x" * 100)
    two_hours_ago = time.time() - 7200
    os.utime(dump, (two_hours_ago, two_hours_ago))
    text = f"""
probes:
  - name: {name}-web
    entity: endpoint/{name}-web
    kind: http
    url: https://localhost:{https_expiring.port}/
    ca_file: {https_expiring.ca_file}
    conditions: ["[STATUS] == 200"]
  - name: {name}-db
    entity: backup-set/{name}-db
    kind: backup
    path: {backups}
    conditions: ["[BACKUP_AGE] < 26h"]
"""
    await runner(nc, settings, text).run_once()

    async def service():
        found = (await ask(nc, "ops-hub", "get_services", {"name": name}))["services"]
        ready = found and found[0]["tls_days_left"] is not None and found[0]["backup_age_hours"] is not None
        return found[0] if ready else None

    shown = await until(service, "certificate and backup on the service")
    assert 2.9 <= shown["tls_days_left"] <= 3.0
    assert 1.9 <= shown["backup_age_hours"] <= 2.2
    summary = await ask(nc, "ops-hub", "get_domain_summary", {})
    mine = next(s for s in summary["services"] if s["name"] == name)
    assert mine["tls_days_left"] == shown["tls_days_left"] and mine["backup_age_hours"] is not None


async def test_an_unchanged_result_is_published_at_a_lower_rate_within_the_staleness_window(nc, settings, tcp_port, u):
    # Asked for an hour between repeats, the runner still repeats within half the amber window (30 min).
    assert unchanged_every(settings.model_copy(update={"probes_unchanged_every": 3600})) == 1800
    text = f"""
probes:
  - name: same-{u}
    entity: access-path/same-{u}
    kind: tcp
    host: 127.0.0.1
    port: {tcp_port}
    conditions: ["[CONNECTED] == true"]
"""
    probes = ProbeRunner(
        parse_probe_file(text),
        nc,
        settings.model_copy(update={"probes_unchanged_every": 600}),
        {},
        identity=Identity("probes"),
    )
    first = (await probes.run_once())[0]
    second = (await probes.run_once())[0]
    assert first.published and not second.published
    assert second.event_id == first.event_id  # a gate keeps naming the evidence that still stands
    assert probes.stats.unchanged_skipped == 1
