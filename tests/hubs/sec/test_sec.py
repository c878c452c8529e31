"""sec-hub against the session's real servers: Trivy and PolicyReport imports through the CLI, the exception
register and its expiry, secrets hygiene, and the couplings to ops and canon."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import uuid
from collections.abc import Callable
from typing import Any

import pytest

from tests.couplings.test_couplings import rows
from vsmesh.bus.contract_client import ask
from vsmesh.bus.publisher import Publisher
from vsmesh.errors import ContractError
from vsmesh.hubs.sec.couplings import CRITICAL_RISK

HUB = "sec-hub"
TODAY = dt.datetime.now(dt.UTC).date()


def trivy(*vulns: tuple[str, str, str, str | None, str]) -> str:
    """A Trivy JSON report (the `trivy image --format json` shape, SchemaVersion 2)."""
    return json.dumps(
        {
            "SchemaVersion": 2,
            "ArtifactName": "gitea/gitea:1.21.4",
            "ArtifactType": "container_image",
            "Results": [
                {
                    "Target": "gitea/gitea:1.21.4 (alpine 3.19.1)",
                    "Class": "os-pkgs",
                    "Type": "alpine",
                    "Vulnerabilities": [
                        {
                            "VulnerabilityID": cve,
                            "PkgName": pkg,
                            "InstalledVersion": installed,
                            "FixedVersion": fixed,
                            "Severity": severity,
                            "Title": f"{pkg}: {cve}",
                            "PrimaryURL": f"https://avd.aquasec.com/nvd/{cve.lower()}",
                        }
                        for cve, pkg, installed, fixed, severity in vulns
                    ],  # fmt: skip
                }
            ],
        },
        indent=2,
    )


OPENSSL = ("CVE-2024-0727", "libssl3", "3.1.4-r2", "3.1.4-r5", "MEDIUM")
STDLIB = ("CVE-2024-24790", "stdlib", "1.21.5", "1.21.11", "CRITICAL")
XNET = ("CVE-2023-45288", "golang.org/x/net", "v0.19.0", None, "HIGH")


async def until(check: Callable[[], Any], what: str, timeout: float = 20.0) -> Any:
    """Poll an async check until it returns something truthy; fail naming what never happened."""
    deadline = asyncio.get_running_loop().time() + timeout
    while asyncio.get_running_loop().time() < deadline:
        value = await check()
        if value:
            return value
        await asyncio.sleep(0.1)
    pytest.fail(f"timed out waiting for {what}")


async def findings(nc, service: str, **filters: Any) -> dict[str, dict]:
    answer = await ask(nc, HUB, "get_findings", {"service": service, **filters})
    return {f["rule"]: f for f in answer["findings"]}


def run_cli(cli, *args: str) -> Any:
    return asyncio.to_thread(cli, *args)


async def test_trivy_import_is_idempotent_and_marks_what_a_later_report_lacks_as_fixed(nc, cli, tmp_path, running_mesh):
    service = f"svc-{uuid.uuid4().hex[:6]}"
    first = tmp_path / "trivy-1.json"
    first.write_text(trivy(OPENSSL, STDLIB, XNET))

    # Three vulnerabilities: three findings published, open, with their versions and severities.
    result = await run_cli(cli, "sec", "import-trivy", str(first), "--service", service, "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["published"] == 3
    found = await until(lambda: _count(nc, service, 3), "three findings")
    assert found["CVE-2024-24790"]["severity"] == "critical"
    assert (found["CVE-2024-0727"]["installed_version"], found["CVE-2024-0727"]["fixed_version"]) == (
        "3.1.4-r2",
        "3.1.4-r5",
    )
    assert {f["status"] for f in found.values()} == {"open"}
    assert all(f["first_seen"] for f in found.values())

    # The same file again publishes nothing.
    again = await run_cli(cli, "sec", "import-trivy", str(first), "--service", service)
    assert again.exit_code == 0, again.output
    assert "3 findings, 0 published, 3 already imported, 0 fixed" in again.output

    # A later report without the openssl finding: that one is fixed, the others stay open, first seen kept.
    later = tmp_path / "trivy-2.json"
    later.write_text(trivy(STDLIB, XNET))
    result = await run_cli(cli, "sec", "import-trivy", str(later), "--service", service, "--json")
    assert json.loads(result.stdout)["fixed"] == 1

    async def fixed():
        now = await findings(nc, service)
        return now if now["CVE-2024-0727"]["status"] == "fixed" else None

    now = await until(fixed, "the openssl finding to be fixed")
    assert now["CVE-2024-0727"]["fixed_at"] and now["CVE-2024-24790"]["status"] == "open"
    assert now["CVE-2024-24790"]["first_seen"] == found["CVE-2024-24790"]["first_seen"]
    summary = await ask(nc, HUB, "get_domain_summary", {})
    assert any(s["service"] == service and s["critical"] == 1 and s["high"] == 1 for s in summary["open_by_service"])


async def _count(nc, service: str, n: int) -> dict | None:
    found = await findings(nc, service)
    return found if len(found) == n else None


POLICY_REPORT = """\
apiVersion: wgpolicyk8s.io/v1alpha2
kind: PolicyReport
metadata:
  name: polr-ns-default
  namespace: default
summary: {pass: 1, fail: 1, warn: 0, error: 0, skip: 0}
results:
- policy: require-run-as-nonroot
  rule: run-as-non-root
  result: fail
  severity: high
  message: "validation error: Running as root is not allowed."
  source: kyverno
  scored: true
  resources:
  - apiVersion: v1
    kind: Pod
    name: gitea-0
    namespace: default
- policy: disallow-latest-tag
  rule: validate-image-tag
  result: pass
  source: kyverno
  resources:
  - {apiVersion: v1, kind: Pod, name: gitea-0, namespace: default}
"""


async def test_policy_report_failures_become_findings(nc, cli, tmp_path, running_mesh):
    service = f"svc-{uuid.uuid4().hex[:6]}"
    path = tmp_path / "polr.yaml"
    path.write_text(POLICY_REPORT)
    result = await run_cli(cli, "sec", "import-policy-report", str(path), "--service", service, "--json")
    assert result.exit_code == 0, result.output
    # Only the failing result is a finding; a pass is not.
    found = await until(lambda: _count(nc, service, 1), "one policy finding")
    f = found["require-run-as-nonroot/run-as-non-root"]
    assert (f["severity"], f["package"], f["source"]) == ("high", "Pod/default/gitea-0", "policy-report")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (trivy(OPENSSL).replace('"MEDIUM"', '"SEVERE"'), ":16: Results.0.Vulnerabilities.0.Severity: Input should be"),
        (POLICY_REPORT.replace("result: fail", "result: failed"), ":10: results.0.result: Input should be"),
        ("{not json", ":1: not valid YAML/JSON"),
    ],
)
def test_bad_report_files_are_refused_with_file_line_and_field(cli, tmp_path, text, expected):
    path = tmp_path / "report.json"
    path.write_text(text)
    command = "import-policy-report" if "PolicyReport" in text else "import-trivy"
    result = cli("sec", command, str(path), "--service", "gitea")
    assert result.exit_code == 1
    assert f"error: {path}{expected}" in result.output


async def test_an_exception_accepts_until_it_expires_then_alerts_and_escalates_once(nc, cli, tmp_path, running_mesh):
    service = f"svc-{uuid.uuid4().hex[:6]}"
    path = tmp_path / "trivy.json"
    path.write_text(trivy(OPENSSL, XNET))
    await run_cli(cli, "sec", "import-trivy", str(path), "--service", service)
    found = await until(lambda: _count(nc, service, 2), "two findings")

    # A live exception for openssl (10 days left) and one for x/net that ended yesterday.
    live, ended = f"{service}-openssl", f"{service}-xnet"
    for name, cve, expires in ((live, "CVE-2024-0727", TODAY + dt.timedelta(days=10)),
                               (ended, "CVE-2023-45288", TODAY - dt.timedelta(days=1))):  # fmt: skip
        result = await run_cli(
            cli, "sec", "grant-exception", name, "--owner", "railiance-apps", "--reason", "not reachable",
            "--expires-on", expires.isoformat(), "--finding", found[cve]["finding_id"],
            "--compensating-control", "ingress only", *(["--backdate"] if expires < TODAY else []),
        )  # fmt: skip
        assert result.exit_code == 0, result.output

    # The covered finding shows as accepted, the one whose exception ended as open.
    async def judged():
        now = await findings(nc, service)
        return now if now["CVE-2024-0727"]["status"] == "accepted" else None

    now = await until(judged, "openssl accepted")
    assert now["CVE-2023-45288"]["status"] == "open"

    async def both_listed():
        summary = await ask(nc, HUB, "get_domain_summary", {})
        return ended in [e["exception_id"] for e in summary["exceptions_expired"]] and summary

    summary = await until(both_listed, "the ended exception listed as expired")
    assert live in [e["exception_id"] for e in summary["exceptions_expiring"]]
    # Judged a month later, the live one has expired too: the finding is open again.
    later = (dt.datetime.now(dt.UTC) + dt.timedelta(days=30)).isoformat()
    assert (await findings(nc, service, now=later))["CVE-2024-0727"]["status"] == "open"

    # The expiry check (what `vsmesh up` runs every minute), twice: one alert, one canon escalation.
    for _ in range(2):
        result = await run_cli(cli, "sec", "check-expiry", "--json")
        assert result.exit_code == 0, result.output
    subject = f"exception/{ended}"

    async def alerted():
        alerts = (await ask(nc, HUB, "get_alerts", {"entity": subject}))["alerts"]
        escalations = [
            e for e in (await ask(nc, "canon-hub", "get_escalations", {}))["escalations"] if ended in e["title"]
        ]
        return (alerts, escalations) if alerts and escalations else None

    alerts, escalations = await until(alerted, "the alert and the canon escalation")
    await asyncio.sleep(1.0)  # time for a duplicate to show, if one were coming
    result = await run_cli(cli, "sec", "check-expiry", "--json")
    assert ended not in json.loads(result.stdout)["exceptions_expired"]  # the hub knows it is published
    assert len((await ask(nc, HUB, "get_alerts", {"entity": subject}))["alerts"]) == 1
    canon = (await ask(nc, "canon-hub", "get_escalations", {}))["escalations"]
    assert len([e for e in canon if ended in e["title"]]) == 1
    assert escalations[0]["from_hub"] == HUB and live not in str(canon)


async def test_an_expiry_already_past_is_refused_unless_backdated(nc, cli, running_mesh):
    name, yesterday = f"past-{uuid.uuid4().hex[:6]}", (TODAY - dt.timedelta(days=1)).isoformat()
    grant = ("sec", "grant-exception", name, "--owner", "ops", "--reason", "r", "--rule", "CVE-0000-0003",
             "--expires-on", yesterday)  # fmt: skip

    # A date already past is one line naming it and the two ways on; nothing is granted.
    refused = await run_cli(cli, *grant)
    assert refused.exit_code == 1
    line = refused.stderr.strip()
    assert "\n" not in line and yesterday in line and "future date" in line and "--backdate" in line, line
    # The hub refuses it too, for a caller that is not the CLI (an agent through the gateway).
    with pytest.raises(ContractError, match="backdate"):
        await ask(nc, HUB, "grant_exception", {"exception_id": name, "owner": "ops", "reason": "r",
                                               "rule": "CVE-0000-0003", "expires_on": yesterday})  # fmt: skip

    # Said on purpose, it is recorded, expired from the start.
    backdated = await run_cli(cli, *grant, "--backdate", "--json")
    assert backdated.exit_code == 0, backdated.output
    seq = json.loads(backdated.stdout)
    answer = await ask(nc, HUB, "get_exceptions", {"wait_for_seq": {seq["stream"]: seq["seq"]}})
    assert [e["status"] for e in answer["exceptions"] if e["exception_id"] == name] == ["expired"]


async def test_overdue_rotation_is_a_risk_until_the_secret_is_rotated(nc, settings, cli, running_mesh):
    name = f"keys-{uuid.uuid4().hex[:6]}"
    publisher = Publisher(nc.jetstream(), settings)
    # ops registers the secret set; canon declares how old a secret may get.
    secret = {"kind": "secret-set", "name": name, "owner": "railiance-infra"}
    await publisher.publish(
        publisher.build("ops-inventory-registered", hub="ops-hub", subject=f"secret-set/{name}", data=secret)
    )
    policy = {"policy": "credential-management", "title": "Credential management", "version": f"t-{name}",
              "metadata": {"values": {"max_secret_age_days": 30}}}  # fmt: skip
    await publisher.publish(publisher.build("canon-policy-declared", hub="canon-hub", subject="policy/cm", data=policy))

    async def tracked():
        found = [s for s in (await ask(nc, HUB, "get_secrets", {}))["secrets"] if s["secret_set"] == name]
        return found[0] if found and found[0]["max_age_days"] == 30 else None

    await until(tracked, "the secret set tracked under the 30-day policy")
    rotated = (TODAY - dt.timedelta(days=40)).isoformat()
    assert (await run_cli(cli, "sec", "rotated", name, "--on", rotated)).exit_code == 0

    async def overdue():
        found = [s for s in (await ask(nc, HUB, "get_secrets", {}))["secrets"] if s["secret_set"] == name]
        return found[0] if found[0]["overdue"] else None

    secret = await until(overdue, "the rotation to be overdue")
    assert secret["last_rotated_on"] == rotated
    summary = await ask(nc, HUB, "get_domain_summary", {})
    assert name in [s["secret_set"] for s in summary["overdue_rotations"]]
    # The expiry check raises one risk on the set (whoever ran it first: this call or the mesh's timer).
    assert (await run_cli(cli, "sec", "check-expiry", "--json")).exit_code == 0
    entity = f"secret-set/{name}"
    [risk] = await until(lambda: _risks(nc, entity), "the overdue-rotation risk")
    assert (risk["category"], risk["severity"], risk["status"]) == ("sec-rotation-overdue", "high", "surfaced")
    assert risk["title"] == f"secret set {name} overdue for rotation (due {secret['due_on']})"
    assert name not in json.loads((await run_cli(cli, "sec", "check-expiry", "--json")).stdout)["rotations_overdue"]

    # Rotated today: no longer overdue, and the check mitigates the risk by the rotation.
    assert (await run_cli(cli, "sec", "rotated", name, "--on", TODAY.isoformat())).exit_code == 0

    async def fresh():
        found = [s for s in (await ask(nc, HUB, "get_secrets", {}))["secrets"] if s["secret_set"] == name]
        return not found[0]["overdue"] and found[0]

    secret = await until(fresh, "the rotation to be current")
    assert (await run_cli(cli, "sec", "check-expiry", "--json")).exit_code == 0

    async def mitigated():
        found = await _risks(nc, entity)
        return found if found[0]["status"] == "mitigated" else None

    [risk] = await until(mitigated, "the risk mitigated by the rotation")
    assert risk["mitigation"] == f"rotated on {TODAY.isoformat()}; next rotation due {secret['due_on']}"


async def _risks(nc, entity: str, hub: str = HUB) -> list:
    return (await ask(nc, hub, "get_risks", {"entity": entity}))["risks"]


async def test_a_critical_finding_on_production_is_an_ops_risk_on_the_service(
    nc, settings, cli, tmp_path, running_mesh
):
    service = f"svc-{uuid.uuid4().hex[:6]}"
    path = tmp_path / "trivy.json"
    path.write_text(trivy(STDLIB, XNET))
    result = await run_cli(cli, "sec", "import-trivy", str(path), "--service", service, "--production", "--json")
    assert result.exit_code == 0, result.output
    [(stream, last)] = json.loads(result.stdout)["last_seq"].items()
    # The coupling has read past both findings: its position commits after what it emitted was stored.
    await until(lambda: _coupling_past(settings, CRITICAL_RISK, stream, last), "the coupling past both findings")
    emitted = await rows(settings, "SELECT event_id FROM vsmesh_reactors.emitted WHERE coupling = :c AND subject = :s",
                         c=CRITICAL_RISK, s=f"service/{service}")  # fmt: skip
    # Only the critical one became a risk on ops-hub's service; the high one none.
    assert len(emitted) == 1, emitted
    risk_id = emitted[0]["event_id"]

    async def applied():
        found = await _risks(nc, f"service/{service}", "ops-hub")
        return found if risk_id in [r["risk_id"] for r in found] else None

    [risk] = await until(applied, "ops-hub to apply the risk")
    assert (risk["severity"], risk["category"]) == ("critical", "sec-critical-finding")
    assert risk["title"] == "critical finding on production: CVE-2024-24790 in stdlib 1.21.5"


async def _coupling_past(settings, coupling: str, stream: str, seq: int) -> bool:
    query = "SELECT seq FROM vsmesh_reactors.positions WHERE coupling = :c AND stream = :s"
    found = await rows(settings, query, c=coupling, s=stream)
    return bool(found) and found[0]["seq"] >= seq
