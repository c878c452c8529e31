"""ops-hub's projection: the generic core's handlers plus ops' own pure folds, over all of its streams."""

from __future__ import annotations

from vsmesh.hubs.core import hub_projection
from vsmesh.hubs.ops import fold_costs, fold_evidence, fold_incidents, fold_inventory, fold_readiness, manifest
from vsmesh.hubs.ops.recent import cap_recent, trim_recent
from vsmesh.hubs.ops.tables import metadata
from vsmesh.projectors.projection import Handlers, Projection


def ops_handlers() -> Handlers:
    """ops-hub's own handlers, by event type."""
    return {
        **fold_inventory.handlers(),
        **fold_evidence.handlers(),
        **fold_incidents.handlers(),
        **fold_readiness.handlers(),
        **fold_costs.handlers(),
    }


# The types a partitioned ops-hub spreads over its partitions by entity (projectors/partitions.py): their
# handlers write only rows of the event's own entity (inventory, attributes, evidence, debts) or of the event
# itself (change records, service costs), plus its recent-events row, whose trim takes turns. Incidents and
# readiness gates are threads keyed by an id or a gate name that events of several subjects update, and the
# core's risks, alerts, requests and messages likewise: those stay on partition 0, in log order.
# (An entity-keyed event published without a subject folds on the partition of `_`, not of the entity its
# data names: publish the subject on a partitioned hub; the contract, probes and couplings all do.)
ENTITY_TYPES = frozenset(
    {
        "ops-inventory-registered",
        "ops-inventory-updated",
        "ops-inventory-retired",
        "ops-service-discovered",
        "ops-health-checked",
        "ops-endpoint-verified",
        "ops-backup-verified",
        "ops-restore-tested",
        "ops-runbook-executed",
        "ops-release-observed",
        "ops-drift-detected",
        "ops-change-recorded",
        "fin-cost-recorded",
    }
)


def projection() -> Projection:
    return hub_projection(
        manifest.SLUG,
        metadata,
        ops_handlers(),
        manifest.EVENT_TYPES,
        after_batch=trim_recent,
        before_write=cap_recent,
        entity_types=ENTITY_TYPES,
    )
