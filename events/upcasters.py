"""Upcasters: stored events of an older schema version read as the current one, on every read path.

Stored events are never rewritten. A step takes one whole event, decoded to a JSON dict, at version N
and returns it at version N+1; the loader (`Upcasters.upcast`) chains steps up to the current version,
then the codec converts the dict to the current Struct. A step is frozen once released: it targets
*its* next version forever, so it never imports today's schema — v3 gets a v2→v3 step of its own.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

Upcaster = Callable[[dict[str, Any]], dict[str, Any]]


class Upcasters:
    """Steps per (event type, from version); each lifts an event dict by exactly one version."""

    def __init__(self) -> None:
        self._steps: dict[tuple[str, int], Upcaster] = {}

    def step(self, event_type: str, from_version: int) -> Callable[[Upcaster], Upcaster]:
        """Register the decorated function as the step from `from_version` to `from_version + 1`."""

        def register(fn: Upcaster) -> Upcaster:
            if (event_type, from_version) in self._steps:
                raise TypeError(f"two upcasters for {event_type} v{from_version}")
            self._steps[(event_type, from_version)] = fn
            return fn

        return register

    def __getitem__(self, key: tuple[str, int]) -> Upcaster:
        return self._steps[key]

    def reaches(self, event_type: str, from_version: int, to_version: int) -> bool:
        """Whether a chain of steps leads from `from_version` to `to_version`."""
        return 1 <= from_version <= to_version and all(
            (event_type, v) in self._steps for v in range(from_version, to_version)
        )

    def supported(self, event_type: str, current: int) -> list[int]:
        """Every version this build reads for `event_type`: the current one and those that upcast to it."""
        return [v for v in range(1, current + 1) if self.reaches(event_type, v, current)]

    def upcast(self, event: dict[str, Any], event_type: str, from_version: int, to_version: int) -> dict[str, Any]:
        """Apply the chain from `from_version` to `to_version`; the caller checked `reaches` first."""
        for version in range(from_version, to_version):
            event = self._steps[(event_type, version)](event)
            # Set here rather than trusted to each step: the result *is* the next version.
            event["schemaversion"] = version + 1
        return event

    def check(self, current_versions: Mapping[str, int]) -> None:
        """Fail at import, not at the first old event, when a step names an unknown type or a chain has a gap."""
        for event_type, from_version in self._steps:
            current = current_versions.get(event_type)
            if current is None:
                raise TypeError(f"upcaster for unknown event type {event_type!r}")
            if from_version >= current or not self.reaches(event_type, from_version, current):
                raise TypeError(
                    f"upcaster {event_type} v{from_version}→v{from_version + 1} does not reach the current "
                    f"v{current}: a step is missing or the type's `version` was not raised"
                )


UPCASTERS = Upcasters()

# The inventory vocabulary as v2 defined it (events/schemas/ops.py InventoryKind at version 2).
_INVENTORY_KINDS_V2 = frozenset(
    {
        "environment",
        "host",
        "cluster",
        "service",
        "endpoint",
        "datastore",
        "release",
        "backup-set",
        "secret-set",
        "runbook",
        "access-path",
        "readiness-gate",
        "migration-wave",
        "other",
    }
)
_INVENTORY_KIND_ALIASES_V1 = {
    "env": "environment",
    "server": "host",
    "node": "host",
    "vm": "host",
    "k8s": "cluster",
    "k3s": "cluster",
    "kubernetes": "cluster",
    "svc": "service",
    "url": "endpoint",
    "database": "datastore",
    "db": "datastore",
    "backup": "backup-set",
    "secret": "secret-set",
    "secrets": "secret-set",
    "gate": "readiness-gate",
    "migration": "migration-wave",
}


@UPCASTERS.step("ops-inventory-registered", 1)
def upcast_ops_inventory_registered_v1_v2(event: dict[str, Any]) -> dict[str, Any]:
    """v1's free-text `kind` ("Service", "ops-service", "k8s") becomes v2's closed inventory vocabulary."""
    data = event.get("data")
    if not isinstance(data, dict) or not isinstance(data.get("kind"), str):
        return event  # not a valid v1 event either; the schema check names what is wrong
    written = data["kind"]
    # v1 publishers wrote the dashboard widget type names ops-hub's inventory came from (`ops-service`) as often
    # as bare kinds.
    kind = written.strip().lower().replace("_", "-").replace(" ", "-").removeprefix("ops-")
    kind = _INVENTORY_KIND_ALIASES_V1.get(kind, kind)
    if kind in _INVENTORY_KINDS_V2:
        return {**event, "data": {**data, "kind": kind}}
    # Nothing a v1 publisher wrote is lost: the text stays, as the refinement of `other`.
    return {**event, "data": {**data, "kind": "other", "kind_detail": written}}
