"""Every hub's projection by slug — a coded hub, the registry, or a hub that has only a manifest — so the
engine's paths (rebuild, point-in-time copies, snapshots, status) serve them all alike.

A manifest hub's projection folds the types its active manifest declares (hubs/registry/projector.py), so
the registry's read model is read first; a rebuild of it folds its whole log with today's manifest.
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncEngine

from vsmesh.errors import NotFound
from vsmesh.events.governance import REGISTRY_HUB
from vsmesh.hubs import HUBS, hub, is_coded
from vsmesh.hubs.registry.projector import manifest_projection, registry_projection
from vsmesh.hubs.registry.queries import active_manifests
from vsmesh.hubs.vocabulary import VOCABULARIES, from_row
from vsmesh.projectors.engine.projection import Projection


async def manifest_hub_slugs(engine: AsyncEngine) -> list[str]:
    return [row["slug"] for row in await active_manifests(engine) if not is_coded(row["slug"])]


async def projection_of(engine: AsyncEngine, slug: str, *, to_fold: bool = True) -> Projection:
    """The hub's projection; NotFound naming every known hub when there is none.

    `to_fold`: the projection will fold events, so the manifests' declared types are learned (and become
    decodable in this process); a reader of positions only (status) passes False.
    """
    if is_coded(slug):
        return hub(slug).make_projection()
    if slug == REGISTRY_HUB:
        return registry_projection()
    rows = await active_manifests(engine)
    for row in rows if to_fold else ():
        VOCABULARIES.learn(from_row(row))
    if any(row["slug"] == slug for row in rows):
        return manifest_projection(slug)
    known = [*HUBS, REGISTRY_HUB, *(r["slug"] for r in rows if not is_coded(r["slug"]))]
    raise NotFound(f"unknown hub {slug!r}; known hubs: {', '.join(sorted(known))}")


async def all_projections(engine: AsyncEngine, *, to_fold: bool = True) -> list[Projection]:
    """Every hub's projection: the coded ones, the registry, every manifest hub."""
    manifest_hubs = await manifest_hub_slugs(engine)
    return [await projection_of(engine, s, to_fold=to_fold) for s in [*HUBS, REGISTRY_HUB, *manifest_hubs]]
