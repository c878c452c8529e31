"""ops-hub's projection: the generic core's handlers plus ops' own pure folds, over all of its streams."""

from __future__ import annotations

from vsmesh.events.schemas.ops import OpsChangeRecorded
from vsmesh.hubs.core import hub_projection
from vsmesh.hubs.ops import fold_costs, fold_evidence, fold_incidents, fold_inventory, fold_readiness, manifest
from vsmesh.hubs.ops.recent import trim_recent
from vsmesh.hubs.ops.tables import RECENT_EVENTS_KEPT, metadata, recent_events
from vsmesh.projectors.engine.projection import Handlers, Projection, RevertScope, Superseded, event_type_of


def ops_handlers() -> Handlers:
    """ops-hub's own handlers, by event type."""
    return {
        **fold_inventory.handlers(),
        **fold_inventory.sighting_handlers(),
        **fold_evidence.handlers(),
        **fold_incidents.handlers(),
        **fold_readiness.handlers(),
        **fold_costs.handlers(),
    }


def entity_keyed() -> Handlers:
    """The handlers that write only rows of the event's subject (inventory, attributes, evidence, debts, costs)."""
    return {**fold_inventory.handlers(), **fold_evidence.handlers(), **fold_costs.handlers()}


# The types a partitioned ops-hub spreads over its partitions by entity (projectors/engine/partitions.py): their
# handlers write only rows of the event's own entity (inventory, attributes, evidence, debts) or of the event
# itself (change records, service costs), plus its recent-events row, whose trim takes turns. Incidents and
# readiness gates are threads keyed by an id or a gate name that events of several subjects update, and the
# core's risks, alerts, requests and messages likewise: those stay on partition 0, in log order.
# (An entity-keyed event published without a subject folds on the partition of `_`, not of the entity its
# data names: publish the subject on a partitioned hub; the contract, probes and couplings all do.)
ENTITY_TYPES = frozenset(event_type_of(c) for c in [*entity_keyed(), OpsChangeRecorded])


def revert_scope() -> RevertScope:
    """What ops' handlers key on: inventory, evidence, debts and costs are rows of the event's subject (or of
    `kind/name` from the data of an event without one), and the recent events are the hub's newest 200.
    Incidents, gates and change records are keyed by ids other events carry in their data: reverting one of
    those re-folds the hub."""
    return RevertScope(
        entities={
            "inventory": "entity",
            "inventory_attributes": "entity",
            "evidence": "entity",
            "debts": "entity",
            "service_costs": "entity",
            "recent_events": "entity",
        },
        keyed=frozenset(event_type_of(c) for c in entity_keyed()),
        tail={"recent_events": RECENT_EVENTS_KEPT},
    )


def superseded() -> Superseded:
    """The evidence and drift types: each writes its subject's one row of its kind (all of its columns, from
    the event alone) and its recent-events row, so within a rebuild batch the newest of a subject's events
    stands for the older ones (projectors/engine/supersede.py). Not the inventory types: their attribute rows differ
    from event to event."""
    return Superseded(
        types=frozenset(event_type_of(c) for c in fold_evidence.handlers()),
        tail=recent_events,
    )


def projection(slug: str = manifest.SLUG) -> Projection:
    """ops-hub's projection (`slug`: the same read model under another hub's name, as tests build one)."""
    return hub_projection(
        slug,
        metadata,
        ops_handlers(),
        manifest.EVENT_TYPES,
        manifest.ANNOTATION_CATEGORIES,
        after_batch=trim_recent,
        entity_types=ENTITY_TYPES,
        scope=revert_scope(),
        superseded=superseded(),
    )
