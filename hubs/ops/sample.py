"""ops-hub's demo picture, the situation it was first built to track: production on CoulombCore today, its move to
ThreePhoenix tomorrow, and the readiness gates that must be green before the move. What exists (environments,
hosts, services, endpoints, the gates themselves) is the example organisation repository's Backstage catalog
(examples/org-repo/catalog/), which the demo syncs before these events."""

from __future__ import annotations

from vsmesh.hubs.samples import DemoEvent, demo_id

HUB = "ops-hub"
WAVE = "coulombcore-to-threephoenix"
WORKPLAN = "railiance-apps/workplans/RAIL-AP-WP-0001"


def _evidence() -> list[DemoEvent]:
    registry = {"Docker-Distribution-Api-Version": "registry/2.0"}
    return [
        DemoEvent("ops/health/gitea", "ops-health-checked", HUB, "service/gitea", {"status": "green"}),
        DemoEvent("ops/health/gitea-postgres", "ops-health-checked", HUB, "datastore/gitea-postgres",
                  {"status": "green", "observations": {"cnpg_ready_instances": 1}}),
        DemoEvent("ops/health/state-hub", "ops-health-checked", HUB, "service/state-hub", {"status": "green"}),
        DemoEvent("ops/health/state-hub-postgres", "ops-health-checked", HUB, "datastore/state-hub-postgres",
                  {"status": "amber", "observations": {"note": "no backup evidence yet"}}),
        DemoEvent("ops/endpoint/gitea-web", "ops-endpoint-verified", HUB, "endpoint/gitea-web",
                  {"endpoint": "https://gitea.coulomb.social/", "expected_status": 200, "observed_status": 200}),
        DemoEvent("ops/endpoint/gitea-registry-v2", "ops-endpoint-verified", HUB, "endpoint/gitea-registry-v2",
                  {"endpoint": "https://gitea.coulomb.social/v2/", "expected_status": 401, "observed_status": 401,
                   "expected_headers": registry, "observed_headers": registry,
                   "metadata": {"vsmFunction": "OPS", "vsmSystem": "S1", "viewContext": WORKPLAN,
                                "observedHeader": "Docker-Distribution-Api-Version: registry/2.0"}}),
        DemoEvent("ops/endpoint/inter-hub-api", "ops-endpoint-verified", HUB, "endpoint/inter-hub-api",
                  {"endpoint": "https://hub.coulomb.social/api/v2/hubs", "expected_status": 401,
                   "observed_status": 404, "error": "the current Inter-Hub API is not deployed"}),
        DemoEvent("ops/backup/gitea-postgres-dump", "ops-backup-verified", HUB, "backup-set/gitea-postgres-dump",
                  {"backup_set": "gitea-postgres-dump", "verdict": "passed", "tool": "pg_dump"}),
        DemoEvent("ops/release/gitea", "ops-release-observed", HUB, "release/gitea",
                  {"release": "gitea", "chart": "gitea", "namespace": "default", "environment": "coulombcore"}),
        DemoEvent("ops/discovered/ops-bridge", "ops-service-discovered", HUB, "service/ops-bridge",
                  {"name": "ops-bridge", "method": "ops-bridge", "environment": "local", "host": "workstation"}),
        DemoEvent("ops/drift/gitea", "ops-drift-detected", HUB, "service/gitea",
                  {"summary": "Gitea was installed by hand on CoulombCore, not from railiance-apps",
                   "source_of_truth": "railiance-apps", "severity": "medium"}),
    ]  # fmt: skip


# What must be green before production moves from CoulombCore to ThreePhoenix: each gate, the repo that owns it,
# the evidence it needs and its status.
GATES = (
    ("dns-tls-codified", "railiance-platform", "DNS records and TLS certificates declared in the repo", "amber"),
    ("service-catalog", "ops-hub", "catalog entries for live and target production services", "green"),
    ("git-hosting-registry-reproducible", "railiance-apps", "registry push and pull proven from Helm values", "amber"),
    ("data-backup-restore", "railiance-cluster", "backup and restore evidence per persistent data store", "red"),
    ("secrets-governed", "railiance-infra", "SOPS/age keys reachable through governed operator paths", "amber"),
    ("cluster-from-repos", "railiance-cluster", "runtime and platform services recreated from Railiance repos", "red"),
    ("rollback-path", "railiance-apps", "rollback path documented and rehearsed", "red"),
    ("operator-runbooks", "ops-hub", "runbooks for deploy, restore, rotate and incident response", "amber"),
    ("state-hub-cluster-deploy", "state-hub", "State Hub deployed to the cluster from its repo", "red"),
)

_GATE_EVIDENCE = {
    "git-hosting-registry-reproducible": ["ops/endpoint/gitea-registry-v2"],
    "data-backup-restore": ["ops/backup/gitea-postgres-dump"],
    "service-catalog": [
        "ops/health/gitea",
        "ops/health/state-hub",
        "ops/endpoint/inter-hub-api",
    ],
}


def _gates() -> list[DemoEvent]:
    found = []
    for gate, repo, needs, status in GATES:
        data = {
            "gate": gate,
            "status": status,
            "owner_repo": repo,
            "evidence_required": needs,
            "migration_wave": WAVE,
            "evidence_event_ids": [demo_id(k) for k in _GATE_EVIDENCE.get(gate, [])],
        }
        found.append(DemoEvent(f"ops/gate/{gate}", "ops-readiness-gate-updated", HUB, f"readiness-gate/{gate}", data))
    return found  # fmt: skip


def _incident_and_change() -> list[DemoEvent]:
    opened = demo_id("ops/incident/inter-hub-404")
    return [
        DemoEvent("ops/incident/inter-hub-404", "ops-incident-opened", HUB, "service/inter-hub",
                  {"title": "Inter-Hub API answers 404 on /api/v2/hubs", "severity": "high",
                   "affected": ["service/inter-hub"], "commander": "worsch",
                   "description": "hub.coulomb.social serves an Inter-Hub without the v2 API; bootstrap is blocked"}),
        DemoEvent("ops/incident/inter-hub-404/investigating", "ops-incident-updated", HUB, "service/inter-hub",
                  {"incident_id": opened, "status": "investigating",
                   "note": "Railiance01 kube access missing: ~/.kube/config-hosteurope not found"}),
        DemoEvent("ops/change/gitea-v2-route", "ops-change-recorded", HUB, "endpoint/gitea-registry-v2",
                  {"summary": "Gitea /v2 route now returns the registry auth challenge", "change_kind": "config",
                   "environment": "coulombcore", "reference": WORKPLAN,
                   "rollback_path": "revert the ingress route in railiance-apps"}),
    ]  # fmt: skip


def events() -> list[DemoEvent]:
    """ops-hub's demo events, in publishing order."""
    return [*_evidence(), *_gates(), *_incident_and_change()]
