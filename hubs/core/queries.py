"""Reads of the core read model: plain rows as dicts, newest first, on a connection in the hub's schema."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from vsmesh.hubs.core.tables import capability_requests, messages, status_history


async def rows(conn: AsyncConnection, query: sa.Select) -> list[dict[str, Any]]:
    """Every row of a query as a dict."""
    return [dict(r) for r in (await conn.execute(query)).mappings()]


async def one(conn: AsyncConnection, query: sa.Select) -> dict[str, Any] | None:
    """The query's first row as a dict, or None."""
    found = (await conn.execute(query.limit(1))).mappings().first()
    return dict(found) if found else None


def filtered(table: sa.Table, query: sa.Select, **equal: Any) -> sa.Select:
    """The query narrowed to rows whose columns equal the given values; None means any."""
    for column, value in equal.items():
        if value is not None:
            query = query.where(table.c[column] == value)
    return query


async def histories(conn: AsyncConnection, target_ids: list[str]) -> dict[str, list[dict[str, Any]]]:
    """The follow-ups of each thing, oldest first, by the id of the event that opened it."""
    if not target_ids:
        return {}
    h = status_history
    query = (
        sa.select(h.c.target_id, h.c.event_id, h.c.type, h.c.status, h.c.note, h.c.at, h.c.actor, h.c.metadata)
        .where(h.c.target_id.in_(target_ids))
        .order_by(h.c.stream, h.c.seq)
    )
    found: dict[str, list[dict[str, Any]]] = {i: [] for i in target_ids}
    for row in await rows(conn, query):
        found[row.pop("target_id")].append(row)
    return found


async def capability_request(conn: AsyncConnection, request_id: str) -> dict[str, Any] | None:
    """One capability request, or None."""
    r = capability_requests
    return await one(conn, sa.select(r).where(r.c.request_id == request_id))


async def message(conn: AsyncConnection, message_id: str) -> dict[str, Any] | None:
    """One message, or None."""
    return await one(conn, sa.select(messages).where(messages.c.message_id == message_id))
