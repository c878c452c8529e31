"""`vsmesh trace`: the causation tree of a chain of events across hubs, from any event in it.

Found through the reactor engine's `emitted` index, not by scanning streams: every coupling emission is
a row naming its cause, and all events of one chain share the root's correlation id. An event that
caused nothing through a coupling and was not emitted by one is in no chain, and the answer says so.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from vsmesh.errors import NotFound
from vsmesh.projectors.couplings.reactor import emitted, ensure_tables


async def trace(engine: AsyncEngine, event_id: str) -> dict[str, Any]:
    """{"event": id, "correlation_ids": [...], "roots": [node]}, each node with its `children`, root first."""
    await ensure_tables(engine)
    async with engine.connect() as conn:
        touching = sa.select(emitted.c.correlation_id).where(
            sa.or_(emitted.c.event_id == event_id, emitted.c.cause_id == event_id)
        )
        correlations = sorted(set((await conn.execute(touching)).scalars()))
        if not correlations:
            raise NotFound(f"event {event_id} is in no coupling chain: no coupling emitted it or reacted to it")
        query = sa.select(emitted).where(emitted.c.correlation_id.in_(correlations)).order_by(emitted.c.time)
        rows = [dict(r) for r in (await conn.execute(query)).mappings()]
    return {"event": event_id, "correlation_ids": correlations, "roots": build_tree(rows)}


def build_tree(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Nodes for every emitted event and every cause, linked cause → effect; roots ordered by time."""
    nodes: dict[str, dict[str, Any]] = {}
    for r in rows:
        nodes[r["event_id"]] = _node(r["event_id"], r["time"], r["stream"], r["hub"], r["type"], r["subject"])
        nodes[r["event_id"]]["coupling"] = r["coupling"]
        nodes[r["event_id"]]["parent"] = r["cause_id"]
    for r in rows:
        if r["cause_id"] not in nodes:
            nodes[r["cause_id"]] = _node(
                r["cause_id"], r["cause_time"], r["cause_stream"], r["cause_hub"], r["cause_type"], r["cause_subject"]
            )
    roots = []
    for node in sorted(nodes.values(), key=lambda n: n["time"]):
        parent = nodes.get(node.pop("parent", None) or "")
        (parent["children"] if parent else roots).append(node)
    return roots


def _node(event_id: str, time: Any, stream: str, hub: str, event_type: str, subject: str | None) -> dict[str, Any]:
    return {
        "id": event_id,
        "time": time,
        "horizon": stream.lower(),
        "hub": hub,
        "type": event_type,
        "entity": subject,
        "coupling": None,
        "children": [],
    }
