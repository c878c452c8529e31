"""The projection of the partition tests: ops-hub's handlers (with its entity-keyed types) under a hub of the
test's own, plus the crash test's ledger (no key: an event applied twice is two rows). The partition workers
load it with `--projection tests.projectors.partition_projection:projection`."""

from __future__ import annotations

import dataclasses

from tests.projectors.crash_projector import traced_projection
from vsmesh.hubs.ops.projector import ENTITY_TYPES
from vsmesh.projectors.engine.projection import Projection


def projection(hub: str, reads: str | None = None) -> Projection:
    """Hub `hub`'s projection of the events published for hub `reads` (default: itself)."""
    return dataclasses.replace(traced_projection(hub, reads=reads), entity_types=ENTITY_TYPES)
