"""The generic hub core every hub shares: capabilities and requests, messages, risks, alerts, annotations,
escalations — the same tables, handlers and contract operations in each hub's own schema.

A hub package composes its projection and contract from these plus its own parts:

    metadata = sa.MetaData(); add_core_tables(metadata)        # in the hub's tables.py
    handlers = {**core_handlers(), **own_handlers}             # in the hub's projector.py
    operations = [*core_operations(), *own_operations]          # in the hub's contract.py

Escalations are `canon-escalation-raised` events published on the hub escalated to; a hub that
handles that type itself (canon) should call `on_escalation_raised` from its own handler.
"""

from __future__ import annotations

from vsmesh.hubs.contract import Operation
from vsmesh.hubs.core.projector import core_handlers
from vsmesh.hubs.core.reads import read_operations
from vsmesh.hubs.core.tables import add_core_tables
from vsmesh.hubs.core.writes import write_operations

HORIZON_STREAMS = ("OPERATIONAL", "TACTICAL", "STRATEGIC", "CONSTITUTIONAL")

# For a manifest's event types: every hub accepts the core's.
CORE_EVENT_TYPES = tuple(core_handlers())

__all__ = ["CORE_EVENT_TYPES", "HORIZON_STREAMS", "add_core_tables", "core_handlers", "core_operations", "hub_streams"]


def hub_streams(slug: str) -> dict[str, str]:
    """Every horizon stream, filtered to this hub's subjects: {stream: filter subject}."""
    return {stream: f"{stream.lower()}.{slug}.>" for stream in HORIZON_STREAMS}


def core_operations() -> list[Operation]:
    """The core contract operations every hub answers."""
    return [*read_operations(), *write_operations()]
