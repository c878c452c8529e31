"""aud-hub's contract: the core's operations, its reads and its write (each also an MCP tool)."""

from __future__ import annotations

from vsmesh.hubs.aud.reads import reads
from vsmesh.hubs.aud.writes import writes
from vsmesh.hubs.contract import Operation
from vsmesh.hubs.core.operations import with_core


def operations() -> list[Operation]:
    return with_core([*reads(), *writes()])
