"""Scanner and policy-engine reports → sec findings, pure (no I/O): Trivy's JSON report and the
`wgpolicyk8s.io` PolicyReport that Kyverno writes (OPA/Gatekeeper audit results exported to that shape read
the same way).

A finding's id is stable for one rule on one package (or resource) of one service, so every report of it
folds into one row. A reported event's id is that finding plus the report's digest: importing the same file
again gives the same ids (published nothing new), a later report a new sighting.
"""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from vsmesh.hubs.filecheck import parse_document, validate

IMPORT_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "vsmesh:sec-hub:import")
TRIVY_SEVERITY = {"CRITICAL": "critical", "HIGH": "high", "MEDIUM": "medium", "LOW": "low", "UNKNOWN": "info"}
FAILING = ("fail", "warn", "error")  # PolicyReport results that are findings; pass and skip are not


class _Open(BaseModel):
    model_config = ConfigDict(extra="ignore")  # the tools add fields; read what we need


class TrivyVulnerability(_Open):
    VulnerabilityID: str = Field(min_length=1)
    PkgName: str = Field(min_length=1)
    InstalledVersion: str | None = None
    FixedVersion: str | None = None
    Severity: Literal["CRITICAL", "HIGH", "MEDIUM", "LOW", "UNKNOWN"]
    Title: str | None = None


class TrivyResult(_Open):
    Target: str
    Vulnerabilities: list[TrivyVulnerability] | None = None


class TrivyReport(_Open):
    SchemaVersion: int | None = None
    ArtifactName: str | None = None
    Results: list[TrivyResult] = []


class PolicyResource(_Open):
    kind: str | None = None
    namespace: str | None = None
    name: str = Field(min_length=1)


class PolicyResult(_Open):
    policy: str = Field(min_length=1)
    rule: str | None = None
    result: Literal["pass", "fail", "warn", "error", "skip"]
    severity: Literal["critical", "high", "medium", "low", "info"] | None = None
    message: str | None = None
    resources: list[PolicyResource] = []


class PolicyReport(_Open):
    apiVersion: str = Field(pattern=r"^wgpolicyk8s\.io/")
    kind: Literal["PolicyReport", "ClusterPolicyReport"]
    results: list[PolicyResult] = []


@dataclass(frozen=True)
class Finding:
    """One finding of a report: the `sec-finding-reported` data and its event id."""

    finding_id: str
    event_id: str
    data: dict[str, Any]


def digest(text: str) -> str:
    return "sha256:" + hashlib.sha256(text.encode()).hexdigest()[:16]


def finding_id(service: str, rule: str, package: str) -> str:
    # Readable ids (`gitea/CVE-2024-0727/openssl`) would need escaping in subjects; a hash never does.
    return str(uuid.uuid5(IMPORT_NAMESPACE, f"finding:{service}\x1f{rule}\x1f{package}"))


def fixed_event_id(finding: str, report: str) -> str:
    return str(uuid.uuid5(IMPORT_NAMESPACE, f"fixed:{finding}:{report}"))


def _finding(service: str, rule: str, package: str, report: str, **data: Any) -> Finding:
    fid = finding_id(service, rule, package)
    body = {"finding_id": fid, "service": service, "rule": rule, "package": package, "report": report, **data}
    event_id = str(uuid.uuid5(IMPORT_NAMESPACE, f"reported:{fid}:{report}"))
    return Finding(fid, event_id, {k: v for k, v in body.items() if v not in (None, False)})


def read_trivy(text: str, source: str, service: str, production: bool = False) -> list[Finding]:
    """Every vulnerability of a Trivy JSON report (`trivy image --format json`); ConfigError on a bad file."""
    raw, node = parse_document(text, source)
    report = validate(TrivyReport, raw, node, source)
    found: dict[str, Finding] = {}
    rep = digest(text)
    for result in report.Results:
        for v in result.Vulnerabilities or []:
            f = _finding(
                service, v.VulnerabilityID, v.PkgName, rep, source="trivy", severity=TRIVY_SEVERITY[v.Severity],
                title=v.Title, installed_version=v.InstalledVersion, fixed_version=v.FixedVersion,
                target=result.Target, production=production,
            )  # fmt: skip
            found.setdefault(f.finding_id, f)  # one package in two layers is one finding
    return list(found.values())


def read_policy_report(text: str, source: str, service: str, production: bool = False) -> list[Finding]:
    """Every failing result of a PolicyReport, one finding per rule and resource."""
    raw, node = parse_document(text, source)
    report = validate(PolicyReport, raw, node, source)
    found: dict[str, Finding] = {}
    rep = digest(text)
    for r in report.results:
        if r.result not in FAILING:
            continue
        rule = f"{r.policy}/{r.rule}" if r.rule else r.policy
        for res in r.resources or [PolicyResource(name="-")]:
            resource = "/".join(p for p in (res.kind, res.namespace, res.name) if p)
            f = _finding(
                service, rule, resource, rep, source="policy-report", severity=r.severity or "medium",
                title=r.message, target=resource, production=production,
            )  # fmt: skip
            found.setdefault(f.finding_id, f)
    return list(found.values())
