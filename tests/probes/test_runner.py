"""The runner against the session's mesh: evidence on ops-hub, one alert per failing probe, certificate
risks, gates that follow their probes, and a restart that re-raises nothing."""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path

from tests.probes.conftest import until
from vsmesh.bus.contract_client import ask
from vsmesh.bus.publisher import Published, Publisher
from vsmesh.probes.model import parse_probe_file
from vsmesh.probes.runner import Identity, ProbeRunner, unchanged_every


def runner(nc, settings, text: str, environ=None, **more) -> ProbeRunner:
    return ProbeRunner(
        parse_probe_file(text), nc, settings, environ or {}, identity=Identity(settings.probes_actor), **more
    )


def recorded(nc, settings, text: str, environ=None, **more) -> tuple[ProbeRunner, list[Published]]:
    """A runner and, as it publishes, where each of its events was stored."""
    stored: list[Published] = []
    probes = runner(nc, settings, text, environ, on_published=lambda at, started: stored.append(at), **more)
    return probes, stored


async def after(nc, stored: list[Published], operation: str, request: dict) -> dict:
    """An ops-hub read once the hub has applied every event in `stored` (read-your-writes, not a sleep)."""
    upto: dict[str, int] = {}
    for at in stored:
        upto[at.stream] = max(upto.get(at.stream, 0), at.sequence)
    return await ask(nc, "ops-hub", operation, {**request, "wait_for_seq": upto})


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
    probes, stored = recorded(nc, settings, text)
    results = await probes.run_once()
    assert results[0].passed  # the probe's own conditions hold; the expiry is a risk, not a failure
    await probes.run_once()
    # ops-hub has applied all the runner published, a wrong second risk included, before it answers.
    found = (await after(nc, stored, "get_risks", {"entity": entity}))["risks"]
    assert len(found) == 1
    assert found[0]["category"] == "ops-certificate-expiry" and "expires in 3.0 days" in found[0]["title"]


async def test_a_certificate_risk_is_mitigated_when_a_renewed_certificate_is_seen(nc, settings, renewable_https, u):
    entity = f"endpoint/renewed-{u}"
    text = f"""
probes:
  - name: renewed-{u}
    entity: {entity}
    kind: tls
    host: localhost
    port: {renewable_https.port}
    ca_file: {renewable_https.ca_file}
    conditions: ["[CERTIFICATE_VALID] == true"]
"""
    probes, stored = recorded(nc, settings, text)
    await probes.run_once()
    [risk] = (await after(nc, stored, "get_risks", {"entity": entity}))["risks"]
    assert risk["status"] == "surfaced"

    renewable_https.renew(90)
    await probes.run_once()
    [risk] = (await after(nc, stored, "get_risks", {"entity": entity}))["risks"]
    assert risk["status"] == "mitigated" and risk["mitigation"] == "certificate renewed: 90 days left"
    assert probes.consequences.open_risks == {}


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


async def test_a_gate_is_amber_until_all_its_probes_have_run(nc, settings, tcp_port, traffic, u):
    text = f"""
probes:
  - name: quick-{u}
    entity: access-path/quick-{u}
    kind: tcp
    host: 127.0.0.1
    port: {tcp_port}
    conditions: ["[CONNECTED] == true"]
  - name: held-{u}
    entity: endpoint/held-{u}
    kind: http
    url: http://127.0.0.1:{traffic.port}/held
    conditions: ["[STATUS] == 200"]
gates:
  - gate: amber-{u}
    wave: amber-wave-{u}
    probes: [quick-{u}, held-{u}]
"""

    async def gate(status: str):
        answer = await ask(nc, "ops-hub", "get_readiness", {"wave": f"amber-wave-{u}"})
        return answer if answer["gates"][0]["status"] == status else None

    running = asyncio.create_task(runner(nc, settings, text).run_once())
    try:
        # The quick probe passed; the other's answer is held back by its server, so it has not run yet.
        amber = await until(lambda: _quiet(gate("amber")), "the gate amber")
        assert not amber["may_proceed"] and amber["gates"][0]["note"] == f"waiting for probes: held-{u}"
        assert not running.done()
    finally:
        traffic.release.set()
        await running
    green = await until(lambda: _quiet(gate("green")), "the gate green")
    assert green["may_proceed"] and green["gates"][0]["note"] == "all 2 probes pass"


async def test_a_secret_header_is_sent_but_never_stored(nc, settings, http_port, u):
    from vsmesh.probes.examples.local_servers import BEARER_TOKEN

    text = f"""
probes:
  - name: private-{u}
    entity: endpoint/private-{u}
    kind: http
    url: http://127.0.0.1:{http_port}/private
    headers:
      Authorization: {{env: PRIVATE_TOKEN, prefix: "Bearer "}}
    conditions: ["[STATUS] == 200"]
"""
    probes, stored = recorded(nc, settings, text, {"PRIVATE_TOKEN": BEARER_TOKEN})
    [result] = await probes.run_once()
    assert result.passed  # /private answers 200 only to the exact token: it was sent
    [at] = stored
    message = await nc.jetstream().get_msg(at.stream, at.sequence)
    assert b'"held":true' in message.data and b"/private" in message.data  # the stored evidence event
    stored_bytes = message.data + repr(message.headers).encode()
    assert BEARER_TOKEN.encode() not in stored_bytes and b"Bearer" not in stored_bytes


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


async def test_an_unchanged_result_is_published_again_after_VSMESH_PROBES_UNCHANGED_EVERY(nc, settings, tcp_port, u):
    text = f"""
probes:
  - name: again-{u}
    entity: access-path/again-{u}
    kind: tcp
    host: 127.0.0.1
    port: {tcp_port}
    conditions: ["[CONNECTED] == true"]
"""
    probes = runner(nc, settings.model_copy(update={"probes_unchanged_every": 0.3}), text)
    started = time.monotonic()  # before the first run: its publish starts the runner's 0.3 s, not this line
    first = (await probes.run_once())[0]
    assert first.published
    while True:  # run on until a run publishes again; none may before 0.3 s have passed
        again = (await probes.run_once())[0]
        if again.published:
            break
        assert again.event_id == first.event_id and time.monotonic() - started < 5, "never published again"
        await asyncio.sleep(0.02)
    assert time.monotonic() - started >= 0.3 and again.event_id != first.event_id
    assert probes.stats.unchanged_skipped >= 1  # the runs in between were not published
    stored = (await ask(nc, "ops-hub", "get_evidence", {"entity": f"access-path/again-{u}"}))["evidence"]
    assert stored and stored[0]["event_id"] in (first.event_id, again.event_id)


def _probes(n: int, url: str, u: str, interval: str) -> str:
    return "probes:\n" + "".join(
        f"  - {{name: p{i}-{u}, entity: endpoint/p{i}-{u}, kind: http, interval: {interval},"
        f" url: '{url}/p{i}', conditions: ['[STATUS] == 200']}}\n"
        for i in range(n)
    )


async def test_probes_start_jittered_then_keep_their_slots_without_drift(nc, settings, traffic, u):
    # Each answer takes 200 ms: a runner that slept its interval after each run would drift 0.2 s a run.
    interval, n = 0.4, 12
    probes = runner(nc, settings, _probes(n, f"http://127.0.0.1:{traffic.port}/delay/200", u, f"{interval}s"))
    stop = asyncio.Event()
    started = time.monotonic()
    running = asyncio.create_task(probes.run(stop))
    try:

        async def four_runs_each():
            return all(len(traffic.of(f"/delay/200/p{i}")) >= 4 for i in range(n))

        await until(four_runs_each, "four runs of every probe", timeout=20)
    finally:
        stop.set()
        await running
    runs = [traffic.of(f"/delay/200/p{i}")[:4] for i in range(n)]
    firsts = [r[0] - started for r in runs]
    # Jitter: the first runs spread over the interval (12 probes all within 0.1 s of each other by chance: 5e-5).
    assert max(firsts) - min(firsts) > 0.1, firsts
    # Slots: first + k * interval, however long each run took (from the second run: the first may have waited
    # for the process's first request, its imports, and the slots after it keep their times all the same).
    # A drifting runner is off by 0.2 s a run on every probe; a loaded machine may hold one run back now and
    # then without moving the slots after it: nine in ten must be on their slot.
    off = sorted(abs(at - r[1] - k * interval) for r in runs for k, at in enumerate(r[1:]))
    assert off[int(len(off) * 0.9)] < 0.15, off


async def test_at_most_VSMESH_PROBES_CONCURRENCY_probes_run_at_once(nc, settings, traffic, u):
    bounded = settings.model_copy(update={"probes_concurrency": 2})
    probes = runner(nc, bounded, _probes(6, f"http://127.0.0.1:{traffic.port}/delay/150", u, "30s"))
    results = await probes.run_once()
    assert all(r.passed for r in results) and len(traffic.arrivals) == 6
    assert traffic.most_at_once == 2  # six waiting 150 ms each, two at a time
