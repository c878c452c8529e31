"""The contract operations every hub answers, and how a hub adds its own to them."""

from __future__ import annotations

from collections.abc import Iterable

from vsmesh.hubs.contract import Operation
from vsmesh.hubs.core.attention import attention_operations
from vsmesh.hubs.core.reads import read_operations
from vsmesh.hubs.core.writes import write_operations


def core_operations() -> list[Operation]:
    """The core contract operations every hub answers."""
    return [*read_operations(), *write_operations(), *attention_operations()]


def with_core(own: Iterable[Operation]) -> list[Operation]:
    """The core's operations, then the hub's own: a hub's operation of the same name replaces the core's."""
    own = list(own)
    names = {op.name for op in own}
    return [*(op for op in core_operations() if op.name not in names), *own]
