"""The generic hub core every hub shares: capabilities and requests, messages, risks, alerts, annotations,
escalations — the same tables, handlers and contract operations in each hub's own schema.

A hub package composes its projection and contract from these plus its own parts:

    metadata = sa.MetaData(); add_core_tables(metadata)        # in the hub's tables.py
    handlers = {**core_handlers(), **own_handlers}             # in the hub's projector.py
    operations = [*core_operations(), *own_operations]          # in the hub's contract.py
"""

from __future__ import annotations

import sqlalchemy as sa

from vsmesh.hubs.contract import Operation
from vsmesh.projectors.projection import Handler

HORIZON_STREAMS = ("OPERATIONAL", "TACTICAL", "STRATEGIC", "CONSTITUTIONAL")


def hub_streams(slug: str) -> dict[str, str]:
    """Every horizon stream, filtered to this hub's subjects: {stream: filter subject}."""
    return {stream: f"{stream.lower()}.{slug}.>" for stream in HORIZON_STREAMS}


def add_core_tables(metadata: sa.MetaData) -> None:
    """Add the core tables to a hub's (schema-less) metadata."""


def core_handlers() -> dict[str, Handler]:
    """Handlers for the core event types, by type."""
    return {}


def core_operations() -> list[Operation]:
    """The core contract operations every hub answers."""
    return []
