"""Every contract operation of every kind of hub, and which of them only read.

NATS permissions are drawn from this (runtime/nats_server.py): the reader user may request the reads,
on any hub, and nothing else. That works by operation name alone only while no name is a read on one
hub and a write on another; `read_operation_names` refuses such a clash at start-up.
"""

from __future__ import annotations

from vsmesh.errors import ConfigError
from vsmesh.hubs import discovered
from vsmesh.hubs.contract import Operation


def every_operation() -> dict[str, list[Operation]]:
    """{hub kind: its operations}: each coded hub, the registry and a hub made from a manifest."""
    from vsmesh.hubs.registry.contract import manifest_hub_operations, registry_operations

    kinds = {slug: package.make_operations() for slug, package in discovered().items()}
    kinds["registry"] = registry_operations()
    kinds["(manifest hub)"] = manifest_hub_operations()
    return kinds


def operations_of(hub: str) -> list[Operation]:
    """A hub's contract: a coded hub's, the registry's, or (any other slug) a manifest hub's generic one."""
    from vsmesh.events.governance import REGISTRY_HUB
    from vsmesh.hubs.registry.contract import manifest_hub_operations, registry_operations

    if hub in discovered():
        return discovered()[hub].make_operations()
    return registry_operations() if hub == REGISTRY_HUB else manifest_hub_operations()


def writes(hub: str, operation: str) -> bool:
    """Whether the hub's operation publishes (an unknown one does not: the hub itself names it unknown)."""
    return any(op.writes for op in operations_of(hub) if op.name == operation)


def read_operation_names() -> tuple[str, ...]:
    """The names of the operations that publish nothing, sorted; ConfigError if a name is both, or if an
    operation whose request names an actor (a `WriteRequest`) is not declared `writes=True`."""
    from vsmesh.hubs.core.writes import WriteRequest

    reads: dict[str, str] = {}
    writes: dict[str, str] = {}
    for kind, operations in every_operation().items():
        for op in operations:
            if issubclass(op.request, WriteRequest) and not op.writes:
                raise ConfigError(
                    f"{kind}'s {op.name} takes a WriteRequest but is not declared Operation(..., writes=True):"
                    " the reader user would be allowed to call it"
                )
            (writes if op.writes else reads).setdefault(op.name, kind)
    clash = sorted(set(reads) & set(writes))
    if clash:
        name = clash[0]
        raise ConfigError(
            f"operation {name!r} reads on {reads[name]} but writes on {writes[name]}: NATS permissions go by name,"
            " so rename one of them"
        )
    return tuple(sorted(reads))
