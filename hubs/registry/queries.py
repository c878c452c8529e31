"""Reading the registry's schema from anywhere: `vsmesh up`'s manifest layer, a manifest hub's contract
(its widgets and vocabulary are registry events), and the CLI's lookup of every hub's projection."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from vsmesh.events.governance import REGISTRY_HUB
from vsmesh.hubs.registry import tables as t
from vsmesh.projectors.engine.driver import in_schema


@contextlib.asynccontextmanager
async def registry_connection(engine: AsyncEngine) -> AsyncIterator[AsyncConnection]:
    """A connection whose schema-less registry tables resolve to the registry's schema."""
    async with engine.connect() as conn:
        yield await in_schema(conn, REGISTRY_HUB)


async def registry_rows(engine: AsyncEngine, table: sa.Table, *where: Any) -> list[dict[str, Any]]:
    async with registry_connection(engine) as conn:
        return [dict(r) for r in (await conn.execute(sa.select(table).where(*where))).mappings()]


async def active_manifests(engine: AsyncEngine) -> list[dict[str, Any]]:
    """The active manifest rows by slug; [] while the registry has no schema yet (no `vsmesh up` so far)."""
    async with engine.connect() as conn:
        found = await conn.scalar(sa.text("SELECT 1 FROM pg_namespace WHERE nspname = :s"), {"s": REGISTRY_HUB})
    if not found:
        return []
    rows = await registry_rows(engine, t.manifests, t.manifests.c.status == "active")
    return sorted(rows, key=lambda r: r["slug"])
