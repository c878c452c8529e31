"""ops-hub's projection: the generic core's handlers plus ops' own pure folds, over all of its streams."""

from __future__ import annotations

from vsmesh.hubs.core import hub_projection
from vsmesh.hubs.ops import fold_costs, fold_evidence, fold_incidents, fold_inventory, fold_readiness, manifest
from vsmesh.hubs.ops.recent import trim_recent
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


def projection() -> Projection:
    return hub_projection(
        manifest.SLUG,
        metadata,
        ops_handlers(),
        manifest.EVENT_TYPES,
        after_batch=trim_recent,
    )
