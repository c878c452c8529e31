"""Schemas as documents: each event type's data fields and its JSON Schema (for `vsmesh schema`, SDKs, docs)."""

from __future__ import annotations

import types
from dataclasses import dataclass
from typing import Annotated, Any, Literal, Union, get_args, get_origin

import msgspec

from vsmesh.events.registry import REGISTRY, EventRegistry

JSON_SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"


@dataclass(frozen=True)
class FieldDoc:
    """One field of an event's `data`, nested Struct fields named with dots (`amount.currency`)."""

    name: str
    type: str
    required: bool
    default: Any = None


def schema_id(event_type: str, version: int) -> str:
    """A stable identifier for one version of one type's schema, usable as the CloudEvents `dataschema`."""
    return f"urn:vsmesh:event:{event_type}:v{version}"


def json_schema(event_type: str, registry: EventRegistry = REGISTRY) -> dict[str, Any]:
    """The JSON Schema of the whole CloudEvent of `event_type` at its current version, typed `data` included."""
    cls = registry[event_type]
    version = registry.version(event_type)
    generated = msgspec.json.schema(cls)
    definition = generated["$defs"][generated["$ref"].rsplit("/", 1)[-1]]
    if version > 1:
        # Absent means 1 (DESIGN.md), so any later version must say which it is.
        definition["properties"]["schemaversion"] = {"type": "integer", "const": version}
        definition["required"] = sorted({*definition.get("required", []), "schemaversion"})
    return {
        "$schema": JSON_SCHEMA_DIALECT,
        "$id": schema_id(event_type, version),
        "title": event_type,
        "description": (cls.__doc__ or "").strip(),
        "x-vsmesh": {
            "family": registry.family(event_type),
            "horizon": str(registry.horizon(event_type)),
            "version": version,
            "reads-versions": registry.supported_versions(event_type),
        },
        **generated,
    }


def data_fields(event_type: str, registry: EventRegistry = REGISTRY) -> list[FieldDoc]:
    """The fields of the type's `data`, in declaration order."""
    data_type = next(f.type for f in msgspec.structs.fields(registry[event_type]) if f.name == "data")
    return _fields(data_type, prefix="")


def _fields(struct: type[msgspec.Struct], prefix: str) -> list[FieldDoc]:
    docs: list[FieldDoc] = []
    for f in msgspec.structs.fields(struct):
        default = None if f.required else _default(f)
        docs.append(FieldDoc(prefix + f.name, type_name(f.type), f.required, default))
        nested = _struct_in(f.type)
        if nested is not None:
            docs.extend(_fields(nested, prefix=f"{prefix}{f.name}."))
    return docs


def _default(field: msgspec.structs.FieldInfo) -> Any:
    if field.default_factory is not msgspec.NODEFAULT:
        return field.default_factory()
    return field.default


def _struct_in(tp: Any) -> type[msgspec.Struct] | None:
    """The Struct a field holds, itself or as `X | None`, so its fields can be listed too."""
    candidates = get_args(tp) if get_origin(tp) in (Union, types.UnionType) else (tp,)
    for candidate in candidates:
        if isinstance(candidate, type) and issubclass(candidate, msgspec.Struct):
            return candidate
    return None


def type_name(tp: Any) -> str:
    """A short, readable name for a field's type: `"green" | "amber"`, `str | None`, `dict[str, any]`."""
    origin, args = get_origin(tp), get_args(tp)
    if origin is Literal:
        return " | ".join(msgspec.json.encode(a).decode() for a in args)
    if origin is Annotated:
        return type_name(args[0])
    if origin in (Union, types.UnionType):
        return " | ".join(type_name(a) for a in args)
    if origin is not None:
        return f"{origin.__name__}[{', '.join(type_name(a) for a in args)}]"
    if tp is Any:
        return "any"
    if tp is type(None):
        return "None"
    return getattr(tp, "__name__", str(tp))
