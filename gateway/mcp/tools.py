"""MCP tools generated from the hubs' contracts: one tool per operation of every hub, coded or from a manifest.

Naming: `{hub}__{operation}` (a double underscore: hub slugs hold `-`, operations `_`, so the split is
unambiguous; both are within MCP's `[A-Za-z0-9_.-]{1,128}`), e.g. `ops-hub__open_incident`,
`registry__list_hubs`. A tool's input schema is its request model's JSON schema without the fields the
gateway sets itself (`actor`, `actor_kind`, `correlation_id`); a write is an operation whose request derives
from the core's `WriteRequest`.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache
from typing import Any

import mcp_types as types
from mcp.shared.inbound import x_mcp_header_map

from vsmesh.events.governance import REGISTRY_HUB
from vsmesh.hubs import HUBS
from vsmesh.hubs.contract import ContractRequest, Operation
from vsmesh.hubs.core.writes import WriteRequest
from vsmesh.hubs.registry.contract import manifest_hub_operations, registry_operations

SEPARATOR = "__"
# Set by the gateway from the verified caller and its session, never taken from a request.
GATEWAY_FIELDS = frozenset({"actor", "actor_kind", "correlation_id", "causation_id", "event_id"})

_READ_NOTE = "Read-only: answers from the hub's read model and changes nothing."
_WRITE_NOTE = (
    "Write: publishes one event with you as its actor (a person can audit and revert it) and returns "
    "{id, stream, seq}; pass wait_for_seq={stream: seq} to a later read to see its effect."
)
_WAIT_NOTE = "wait_for_seq ({stream: seq}) makes a read wait until the hub has applied that event."


@dataclass(frozen=True)
class Tool:
    """One generated tool: what it calls, whether it writes, and its MCP description."""

    name: str
    hub: str
    operation: str
    write: bool
    request: type[ContractRequest]
    mcp: types.Tool
    callers: str = "mandate"  # Operation.callers
    spends: str | None = None  # Operation.spends
    param_headers: bool = False  # its schema routes an argument by an `Mcp-Param-*` header (`x-mcp-header`)


def tool_name(hub: str, operation: str) -> str:
    return f"{hub}{SEPARATOR}{operation}"


@cache
def input_schema(request: type[ContractRequest]) -> dict[str, Any]:
    """The request model's JSON schema minus the gateway's own fields."""
    schema = copy.deepcopy(request.model_json_schema())
    properties = schema.setdefault("properties", {})
    for name in GATEWAY_FIELDS:
        properties.pop(name, None)
    if "required" in schema:
        schema["required"] = [r for r in schema["required"] if r not in GATEWAY_FIELDS]
    schema["type"] = "object"
    return schema


def _describe(hub: str, op: Operation, write: bool, role: str) -> str:
    what = op.description or op.name.replace("_", " ")
    access = "write" if write else "read"
    mandate = f"Agents need a canon-hub mandate whose scope covers `{hub}:{op.name}` (or `{hub}:{access}`)."
    return f"{hub}{role}: {what}. {_WRITE_NOTE if write else _READ_NOTE} {_WAIT_NOTE} {mandate}"


def make_tool(hub: str, op: Operation, role: str = "") -> Tool:
    write = issubclass(op.request, WriteRequest)
    name = tool_name(hub, op.name)
    annotations = types.ToolAnnotations(read_only_hint=not write, destructive_hint=False, open_world_hint=False)
    schema = input_schema(op.request)
    mcp = types.Tool(
        name=name,
        title=f"{hub}: {op.name.replace('_', ' ')}",
        description=_describe(hub, op, write, role),
        input_schema=schema,
        annotations=annotations,
    )
    headers = bool(x_mcp_header_map(schema))
    return Tool(name, hub, op.name, write, op.request, mcp, op.callers, op.spends, headers)


def _role(module: Any) -> str:
    m = module.manifest_module
    return f" (VSM {m.VSM_SYSTEM} {m.VSM_FUNCTION}, {m.NAME})"


@cache
def coded_tools() -> tuple[Tool, ...]:
    """The registry's and every coded hub's tools (fixed for the life of the process)."""
    found = [make_tool(REGISTRY_HUB, op, " (the hub registry)") for op in registry_operations()]
    for slug, module in sorted(HUBS.items()):
        found += [make_tool(slug, op, _role(module)) for op in module.make_operations()]
    return tuple(found)


def manifest_tools(hub: dict[str, Any]) -> list[Tool]:
    """A hub made from a manifest: the generic operations every such hub answers (`list_hubs` row in)."""
    vsm = " ".join(str(hub.get(k)) for k in ("vsm_system", "vsm_function") if hub.get(k))
    role = f" (VSM {vsm}, {hub.get('name') or hub['slug']}, made from a manifest)" if vsm else " (from a manifest)"
    return [make_tool(hub["slug"], op, role) for op in manifest_hub_operations()]


def catalog(manifest_hubs: Iterable[dict[str, Any]]) -> dict[str, Tool]:
    """Every tool by name: the coded ones plus those of each manifest hub (registry `list_hubs` rows)."""
    tools = {t.name: t for t in coded_tools()}
    for hub in manifest_hubs:
        if hub["slug"] in HUBS or hub["slug"] == REGISTRY_HUB:
            continue
        tools.update((t.name, t) for t in manifest_tools(hub))
    return tools
