"""dev-hub's write operations (each an MCP tool under a mandate, stored with the caller's verified identity)."""

from __future__ import annotations

from vsmesh.hubs.contract import Operation


def write_operations() -> list[Operation]:
    return []
