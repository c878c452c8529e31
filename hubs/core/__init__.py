"""The generic hub core every hub shares: capabilities and requests, messages, risks, alerts, annotations,
escalations — the same tables, handlers and contract operations in each hub's own schema.

A hub package composes its projection and contract from these plus its own parts:

    metadata = sa.MetaData(); add_core_tables(metadata)        # in the hub's tables.py
    handlers = {**core_handlers(), **own_handlers}             # in the hub's projector.py
    read_operations(), write_operations()                       # in the hub's reads.py and writes.py: its contract
                                                                # is the core's with these (Hub.make_operations)

Escalations are `canon-escalation-raised` events published on the hub escalated to; a hub that
handles that type itself (canon) should call `on_escalation_raised` from its own handler.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import sqlalchemy as sa

from vsmesh.bus.streams import HORIZON_STREAMS
from vsmesh.events.governance import GOVERNANCE_TYPES
from vsmesh.events.schemas.core import AnnotationAdded
from vsmesh.hubs.core.categories import annotation_handler
from vsmesh.hubs.core.projector import core_handlers
from vsmesh.hubs.core.tables import add_core_tables
from vsmesh.projectors.engine.projection import Handlers, Projection, event_type_of

# For a manifest's event types: every hub accepts the core's.
CORE_EVENT_TYPES = tuple(event_type_of(c) for c in core_handlers())
# Every hub accepts the core's types and governance events about itself (reverts; registry events stored on
# a hub's subjects by earlier versions, which nothing reads any more); no manifest claims them.
SHARED_TYPES = frozenset(CORE_EVENT_TYPES) | GOVERNANCE_TYPES

__all__ = [
    "CORE_EVENT_TYPES",
    "HORIZON_STREAMS",
    "SHARED_TYPES",
    "add_core_tables",
    "core_handlers",
    "hub_streams",
]


def hub_streams(slug: str) -> dict[str, str]:
    """Every horizon stream, filtered to this hub's subjects: {stream: filter subject}."""
    return {stream: f"{stream.lower()}.{slug}.>" for stream in HORIZON_STREAMS}


def hub_projection(
    slug: str,
    metadata: sa.MetaData,
    handlers: Handlers,
    declared: Iterable[str],
    categories: Iterable[str] | None = None,
    **options: Any,
) -> Projection:
    """A coded hub's projection: its own handlers over the core's, on every horizon stream of the hub; a type
    outside `declared` (its manifest's EVENT_TYPES) and the shared ones is quarantined, and so is an annotation
    outside `categories` (its ANNOTATION_CATEGORIES; None: any)."""
    return Projection(
        hub=slug,
        streams=hub_streams(slug),
        metadata=metadata,
        handlers={**core_handlers(), AnnotationAdded: annotation_handler(categories), **handlers},
        declared=frozenset(declared) | SHARED_TYPES,
        **options,
    )
