"""ops-hub's identity and the event types it accepts: the operational inventory, its evidence, incidents and
migrations, plus what every hub shares."""

SLUG = "ops-hub"
NAME = "Operations hub"
VSM_FUNCTION = "OPS"
VSM_SYSTEM = "S1"
EVENT_TYPES = (
    "ops-inventory-registered",
    "ops-inventory-updated",
    "ops-inventory-retired",
    "ops-service-discovered",
    "ops-inventory-seen",
    "ops-health-checked",
    "ops-endpoint-verified",
    "ops-backup-verified",
    "ops-restore-tested",
    "ops-runbook-executed",
    "ops-drift-detected",
    "ops-readiness-gate-updated",
    "ops-migration-gate-passed",
    "ops-migration-gate-failed",
    "ops-incident-opened",
    "ops-incident-updated",
    "ops-incident-resolved",
    "ops-change-recorded",
    "ops-release-observed",
    "rollup-service-day",  # a service's day on the tactical horizon (hubs/ops/rollup.py)
    "fin-cost-recorded",  # a fin cost attributed to one of ops' services, by the fin-cost-to-ops-service coupling
    "fin-cost-corrected",  # … and its revised figure, by the same coupling
    "alert-raised",
    "alert-acknowledged",
    "alert-resolved",
    "risk-surfaced",  # a critical finding on a production service, by the sec-critical-finding-to-ops-risk coupling
)
