"""Backstage's catalog-info.yaml as ops-hub's inventory: each document one entity, its relations as attributes.

    Component                       → service (its spec.type as kind_detail)
    Resource  spec.type database    → datastore; a type ops knows (host, cluster, endpoint, …) → that kind
    API                             → endpoint
    System, Group, other Resources  → other (their kind, or type, as kind_detail)

`spec.owner` is the owner (without `group:`), `spec.lifecycle`, `spec.system`, `spec.dependsOn` (names without
their kind) and `metadata.links` become attributes, `metadata.description` the `purpose`; annotations under
`vsmesh.io/` name the environment (`vsmesh.io/environment`), a finer kind (`vsmesh.io/kind-detail: postgresql`)
and any other attribute (`vsmesh.io/url`, `vsmesh.io/owner-repo` → `owner_repo`; `"true"`/`"false"` are booleans).
"""

from __future__ import annotations

from typing import Any, get_args

import yaml

from vsmesh.events.schemas.ops import InventoryKind
from vsmesh.hubs.filecheck import checked_all
from vsmesh.sources.gitops.declared import Declared
from vsmesh.sources.gitops.layout import CatalogEntity
from vsmesh.sources.gitops.repo import RepoFile

OPS_KINDS = frozenset(get_args(InventoryKind))
ANNOTATION = "vsmesh.io/"
FIELDS = ("environment", "kind-detail")  # annotations that fill an inventory field, not an attribute
FLAGS = {"true": True, "false": False}  # annotation values are strings; a flag such as personal-data is a boolean
RESOURCE_TYPES = {"database": "datastore"}


def catalog_declarations(
    file: RepoFile, documents: list[tuple[Any, yaml.Node | None]], problems: list[str]
) -> list[Declared]:
    found = []
    for raw, node in documents:
        entity = checked_all(CatalogEntity, raw, node, file.path)
        if isinstance(entity, list):
            problems += entity
            continue
        kind, detail = ops_kind(entity)
        detail = _annotation(entity, "kind-detail") or detail
        name = entity.metadata.name
        data = {"kind": kind, "kind_detail": detail, "name": name, "environment": _annotation(entity, "environment"),
                "owner": _owner(entity), "attributes": attributes(entity)}  # fmt: skip
        line = node.start_mark.line + 1 if node is not None else 1
        subject = f"{kind}/{name}"
        found.append(Declared("entity", subject, file.path, file.blob, "ops-hub", "ops-inventory-registered",
                              subject, data, line))  # fmt: skip
    return found


def ops_kind(entity: CatalogEntity) -> tuple[str, str | None]:
    """ops-hub's kind for a Backstage entity, and what refines it."""
    kind_type = entity.spec.get("type")
    if entity.kind == "Component":
        return "service", kind_type
    if entity.kind == "API":
        return "endpoint", f"api:{kind_type}" if kind_type else "api"
    if entity.kind == "Resource" and isinstance(kind_type, str):
        mapped = RESOURCE_TYPES.get(kind_type, kind_type)
        if mapped in OPS_KINDS:
            return mapped, None if mapped == kind_type else kind_type
        return "other", kind_type
    return "other", entity.kind.lower()


def attributes(entity: CatalogEntity) -> dict[str, Any]:
    spec, meta = entity.spec, entity.metadata
    found: dict[str, Any] = {}
    for key in ("lifecycle", "system"):
        if isinstance(spec.get(key), str):
            found[key] = _name(spec[key])
    if spec.get("dependsOn"):
        found["depends_on"] = [_name(str(ref)) for ref in spec["dependsOn"]]
    if meta.description:
        found["purpose"] = meta.description
    if meta.links:
        found["links"] = [dict(link) for link in meta.links]
    for key, value in meta.annotations.items():
        if key.startswith(ANNOTATION) and key.removeprefix(ANNOTATION) not in FIELDS:
            found[key.removeprefix(ANNOTATION).replace("-", "_")] = FLAGS.get(value, value)
    return found


def _annotation(entity: CatalogEntity, name: str) -> str | None:
    return entity.metadata.annotations.get(ANNOTATION + name)


def _owner(entity: CatalogEntity) -> str | None:
    owner = entity.spec.get("owner")
    return _name(owner) if isinstance(owner, str) else None


def _name(ref: str) -> str:
    """`resource:default/gitea-postgres` → `gitea-postgres`: an entity reference's name."""
    return ref.rsplit(":", 1)[-1].rsplit("/", 1)[-1]
