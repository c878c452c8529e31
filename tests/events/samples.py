"""One realistic `data` payload per event type, as a publisher would write it today (current versions)."""

from __future__ import annotations

from typing import Any

import msgspec

from vsmesh.events import REGISTRY, Event
from vsmesh.events.registry import EventRegistry
from vsmesh.events.schemas import FAMILIES
from vsmesh.hubs import discovered
from vsmesh.hubs.hub import load

# Finding the hubs adds each one's own family to the process-wide REGISTRY, as in every vsmesh process.
FAMILY_MODULES = (*FAMILIES, *(load(m) for declared in discovered().values() for m in declared.schemas))


def coded_registry() -> EventRegistry:
    """The coded types alone, built afresh: the process-wide REGISTRY also holds what manifest hubs declared,
    learned by whichever test ran a registry first (in random order)."""
    return EventRegistry(FAMILY_MODULES)


EUR = "EUR"

SAMPLE_DATA: dict[str, dict[str, Any]] = {
    # hub
    "hub-registered": {"slug": "ops-hub", "name": "Operations hub", "vsm_function": "OPS", "vsm_system": "S1"},
    "hub-manifest-activated": {
        "slug": "ops-hub",
        "event_types": ["ops-health-checked", "ops-endpoint-verified"],
        "widget_types": ["ops-service", "ops-endpoint"],
        "annotation_categories": ["ops-drift"],
        "policy_scopes": ["ops-production"],
        "horizon": "operational",
        "revision": 3,
    },
    "widget-created": {"slug": "ops-service-gitea", "widget_type": "ops-service", "entity": "service/gitea"},
    "event-reverted": {"event_id": "0190-a", "event_type": "ops-health-checked", "reason": "probe misconfigured"},
    "chain-checkpointed": {
        "stream": "CONSTITUTIONAL",
        "head_seq": 42,
        "head_hash": "9f" * 32,
        "key_id": "0a1b2c3d4e5f6a7b",
        "public_key": "3d" * 32,
        "signature": "00" * 64,
    },  # fmt: skip
    # ops
    "ops-inventory-registered": {"kind": "service", "name": "gitea", "environment": "coulombcore", "owner": "rail"},
    "ops-inventory-updated": {"owner": "platform", "attributes": {"nodeport": 32166}, "removed_attributes": ["old"]},
    "ops-inventory-retired": {"reason": "moved", "replaced_by": "service/gitea-threephoenix"},
    "ops-service-discovered": {"name": "gitea", "method": "k8s-api", "namespace": "default", "endpoints": ["a:3000"]},
    "ops-inventory-seen": {"entities": ["service/gitea", "service/grafana"], "method": "k8s-api"},
    "ops-health-checked": {"status": "amber", "observations": {"latency_ms": 812}},
    "ops-release-observed": {"release": "gitea", "version": "10.1.4", "namespace": "default", "revision": 7},
    "ops-endpoint-verified": {
        "endpoint": "https://gitea.coulomb.social/v2/",
        "expected_status": 401,
        "observed_status": 401,
        "expected_headers": {"Docker-Distribution-Api-Version": "registry/2.0"},
        "observed_headers": {"docker-distribution-api-version": "registry/2.0"},
        "latency_ms": 41.5,
        "tls_expires_at": "2027-02-01T00:00:00Z",
    },
    "ops-backup-verified": {"backup_set": "gitea-db", "verdict": "passed", "size_bytes": 73400320},
    "ops-restore-tested": {"backup_set": "gitea-db", "verdict": "failed", "target": "railiance01", "duration_s": 95.0},
    "ops-runbook-executed": {"runbook": "rotate-registry-token", "outcome": "succeeded", "steps": ["revoke", "issue"]},
    "ops-drift-detected": {"summary": "replicas differ", "desired": 3, "actual": 1, "severity": "high"},
    "ops-readiness-gate-updated": {"gate": "dns-tls-codified", "status": "amber", "owner_repo": "railiance-infra"},
    "ops-migration-gate-passed": {
        "wave": "coulombcore-to-threephoenix",
        "gate": "backups",
        "evidence_event_ids": ["e"],
    },
    "ops-migration-gate-failed": {"wave": "coulombcore-to-threephoenix", "gate": "registry", "reason": "no push yet"},
    "ops-incident-opened": {"title": "registry push fails", "severity": "high", "affected": ["service/gitea"]},
    "ops-incident-updated": {"incident_id": "0190-inc", "status": "mitigated", "note": "token rotated"},
    "ops-incident-resolved": {"incident_id": "0190-inc", "resolution": "new token", "root_cause": "expired token"},
    "ops-change-recorded": {"summary": "gitea 10.1.4 deployed", "change_kind": "deployment", "rollback_path": "helm"},
    "rollup-service-day": {"service": "gitea", "day": "2026-11-22", "checks": {"green": 3}, "changes": 1},
    # risk
    "risk-surfaced": {"title": "single registry node", "severity": "high", "likelihood": "possible"},
    "risk-mitigated": {"risk_id": "0190-r", "mitigation": "second node", "residual_severity": "low"},
    "risk-escalated": {"risk_id": "0190-r", "escalated_to": "canon-hub", "reason": "needs budget"},
    "risk-accepted": {"risk_id": "0190-r", "rationale": "migration in Q1 removes it", "review_by": "2027-01-15"},
    # alert
    "alert-raised": {"title": "registry down", "severity": "critical", "description": "5xx on /v2/"},
    "alert-acknowledged": {"alert_id": "0190-al", "note": "on it"},
    "alert-resolved": {"alert_id": "0190-al", "resolution": "pod restarted"},
    # dev
    "dev-deployment-started": {"service": "state-hub", "version": "1.4.0", "environment": "coulombcore"},
    "dev-deployment-completed": {
        "service": "state-hub",
        "version": "1.4.0",
        "deployment_id": "0190-d",
        "duration_s": 42,
    },
    "dev-deployment-failed": {"service": "state-hub", "version": "1.4.1", "error": "image pull backoff"},
    "dev-deployment-rolled-back": {"service": "state-hub", "from_version": "1.4.1", "to_version": "1.4.0"},
    "dev-blocker-raised": {"title": "registry down", "blocking": ["ws-ci"], "cause_event_id": "0190-inc"},
    "dev-blocker-cleared": {"blocker_id": "0190-b", "resolution": "registry back"},
    "dev-decision-recorded": {"title": "ops-hub repo", "decision": "separate repo", "alternatives": ["monorepo"]},
    "dev-repo-registered": {"name": "ops-hub", "url": "gitea-remote:coulomb/ops-hub.git", "domain": "custodian"},
    "dev-repo-pushed": {"repo": "coulomb/ops-hub", "ref": "refs/heads/main", "after": "9f1c2e7", "commits": 2},
    "dev-release-published": {"repo": "coulomb/ops-hub", "tag": "v1.4.0", "name": "1.4.0", "commit": "main"},
    # fin
    "fin-budget-allocated": {"domain": "ops", "period": "2026-Q4", "amount": {"amount": "12000.00", "currency": EUR}},
    "fin-commitment-recorded": {
        "kind": "subscription",
        "amount": {"amount": "149.70", "currency": EUR},
        "cadence": "quarterly",
        "counterparty": "HostEurope",
        "starts_on": "2026-01-01",
    },
    "fin-cost-recorded": {"amount": {"amount": "18.20", "currency": EUR}, "service": "service/gitea", "vendor": "HE"},
    "fin-cost-corrected": {"amount": {"amount": "19.10", "currency": EUR}, "service": "gitea", "corrects": "0190-c"},
    "fin-token-spend-recorded": {
        "provider": "anthropic",
        "model": "claude",
        "tokens_in": 120000,
        "tokens_out": 8000,
        "cost": {"amount": "0.00042", "currency": "USD"},
    },
    "fin-balance-recorded": {"balance": {"amount": "25000.00", "currency": EUR}, "as_of": "2026-11-30"},
    "fin-budget-alert-raised": {"domain": "dev", "threshold_pct": 90.0, "spent": {"amount": "900", "currency": EUR}},
    "fin-runway-projected": {
        "balance": {"amount": "25000.00", "currency": EUR},
        "monthly_burn": {"amount": "4100.00", "currency": EUR},
        "months_remaining": 6.1,
        "alert_threshold_months": 6.0,
    },
    # canon
    "canon-policy-declared": {"policy": "credential-management", "title": "One root of trust", "version": "0.1"},
    "canon-mandate-granted": {"role": "Technical Operator", "holder": "worsch", "scope": "ops-production"},
    "canon-escalation-raised": {"title": "runway below 6 months", "from_hub": "fin-hub", "cause_event_id": "0190-f"},
    "canon-escalation-resolved": {"escalation_id": "0190-esc", "decision": "cut hosting", "rationale": "cheapest"},
    "canon-escalation-overdue": {
        "escalation_id": "0190-esc",
        "horizon": "operational",
        "sla_s": 14400.0,
        "raised_at": "2026-11-23T10:00:00Z",
        "due_at": "2026-11-23T14:00:00Z",
        "re_escalation": 2,
        "policy": "escalation-slas",
    },
    # notify
    "notification-delivered": {
        "notification_id": "0f1e-n",
        "receiver": "oncall",
        "route": "high-and-above",
        "events": ["0190-a"],
        "attempts": 2,
        "latency_ms": 41.5,
    },
    "notification-failed": {
        "notification_id": "0f1e-n",
        "receiver": "oncall",
        "route": "high-and-above",
        "events": ["0190-a"],
        "error": "HTTP 503 from https://hooks.example/x",
        "attempts": 3,
        "retry_at": "2026-11-23T10:00:02Z",
    },
    "notification-suppressed": {
        "notification_id": "0f1e-n",
        "receiver": "oncall",
        "route": "high-and-above",
        "events": ["0190-a"],
        "silence_id": "0190-s",
    },
    "notification-silence-set": {
        "matchers": {"entity": "service/gitea"},
        "until": "2026-11-23T12:00:00Z",
        "reason": "registry migration",
    },
    "notification-silence-expired": {"silence_id": "0190-s"},
    # sec
    "sec-finding-reported": {
        "finding_id": "gitea-openssl-cve-2024-0727",
        "service": "gitea",
        "source": "trivy",
        "rule": "CVE-2024-0727",
        "severity": "high",
        "package": "openssl",
        "installed_version": "3.1.4-r2",
        "fixed_version": "3.1.4-r5",
    },
    "sec-finding-fixed": {"finding_id": "gitea-openssl-cve-2024-0727", "service": "gitea", "report": "sha256:ab"},
    "sec-exception-granted": {
        "exception_id": "gitea-openssl",
        "owner": "railiance-apps",
        "reason": "no exploit path: TLS terminates at the ingress",
        "expires_on": "2026-12-31",
        "finding_id": "gitea-openssl-cve-2024-0727",
        "compensating_control": "ingress TLS only",
    },
    "sec-exception-expired": {"exception_id": "gitea-openssl", "expires_on": "2026-12-31", "owner": "railiance-apps"},
    "sec-secret-tracked": {"secret_set": "sops-age-keys", "owner": "railiance-infra"},
    "sec-secret-rotated": {"secret_set": "sops-age-keys", "rotated_on": "2026-10-01"},
    "sec-rotation-policy-adopted": {"policy": "credential-management", "max_age_days": 90, "version": "0.2"},
    # legal
    "legal-vendor-recorded": {
        "vendor": "hosteurope",
        "name": "HostEurope GmbH",
        "service": "virtual servers",
        "purpose": "hosting production",
        "data_categories": ["account data"],
        "personal_data": True,
        "location": "DE",
        "dpa_status": "signed",
        "dpa_signed_on": "2026-01-15",
        "review_by": "2027-01-15",
    },
    "legal-dpa-recorded": {"vendor": "anthropic", "signed_on": "2026-11-20", "document": "legal/dpa/anthropic.pdf"},
    "legal-processing-recorded": {
        "activity": "git-hosting",
        "purpose": "hosting source code and accounts",
        "legal_basis": "contract",
        "data_subjects": ["contributors"],
        "data_categories": ["name", "email"],
        "recipients": ["hosteurope"],
        "services": ["gitea"],
    },
    "legal-ai-system-registered": {
        "actor": "custodian-agent",
        "owner": "founder",
        "purpose": "operations custodian",
        "risk_class": "limited",
        "human_oversight": "every event revertible by a person",
    },
    "legal-agent-observed": {
        "actor": "custodian-agent",
        "seen_on_hub": "fin-hub",
        "event_type": "fin-token-spend-recorded",
        "cause_event_id": "0190-t",
    },
    "legal-service-noted": {"service": "gitea", "personal_data": True, "cause_event_id": "0190-i"},
    "legal-vendor-spend-seen": {"vendor": "hetzner", "cause_event_id": "0190-c"},
    "canon-mandate-revoked": {"mandate_id": "0190-mandate", "reason": "the agent's task is done"},
    "canon-call-refused": {
        "hub": "ops-hub",
        "operation": "open_incident",
        "access": "write",
        "reason": "no mandate of agent-7 covers ops-hub:open_incident",
        "missing_mandate": "ops-hub:open_incident",
    },
    "canon-approval-requested": {
        "hub": "fin-hub",
        "operation": "record_cost",
        "arguments": {"amount": "600.00", "currency": "EUR", "vendor": "hetzner"},
        "arguments_hash": "9f2c…",
        "condition": "fin-hub:record_cost amount > 500 EUR",
        "mandate_id": "0190-mandate",
        "expires_at": "2026-12-01T13:00:00Z",
    },
    "canon-approval-decided": {"approval_id": "0190-approval", "decision": "approved", "arguments_hash": "9f2c…"},
    "canon-approval-executed": {"approval_id": "0190-approval", "outcome": "executed", "result_event_id": "0190-c"},
    # core
    "capability-registered": {"capability": "provision-k3s", "description": "a k3s cluster", "tags": ["infra"]},
    "capability-requested": {"capability": "provision-k3s", "provider": "ops-hub", "parameters": {"nodes": 3}},
    "capability-request-updated": {"request_id": "0190-cr", "status": "in-progress"},
    "message-sent": {"to": "dev-hub", "body": "registry is back", "priority": "high"},
    "message-read": {"message_id": "0190-m"},
    "annotation-added": {"category": "ops-backup-gap", "body": "no restore test for CNPG", "target_event_id": "e"},
    # aud
    "aud-finding-raised": {
        "finding_id": "rebuild:ops-hub:inventory",
        "check": "rebuild",
        "title": "ops-hub's inventory differs from a rebuild from the log",
        "severity": "high",
        "evidence": {"rows": [{"entity": "service/gitea", "owner": {"live": "mallory", "log": "ops-team"}}]},
        "digest": "9f2c",
    },
    "aud-finding-resolved": {
        "finding_id": "rebuild:ops-hub:inventory",
        "check": "rebuild",
        "reason": "ops-hub's inventory equals a rebuild from the log",
        "raised_event_id": "0190-aud",
    },
}


def envelope(event_type: str, **overrides: Any) -> dict[str, Any]:
    """A complete structured-mode event dict for `event_type` with its sample data."""
    return {
        "specversion": "1.0",
        "id": f"sample-{event_type}",
        "source": "vsmesh/tests",
        "type": event_type,
        "subject": "service/gitea",
        "time": "2026-11-23T10:00:00Z",
        "hub": "ops-hub",
        "actor": "ada",
        "actorkind": "human",
        "schemaversion": REGISTRY.version(event_type),
        "data": SAMPLE_DATA[event_type],
        **overrides,
    }


def sample_event(event_type: str) -> Event:
    return msgspec.convert(envelope(event_type), REGISTRY[event_type])
