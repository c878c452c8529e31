"""One page of ops-hub's services described in full (get_services), without describing every service first.

At 10,000 services `get_services` loaded the whole inventory and evidence and described every service in
Python (~1.5 s, the event loop held) to return all of them. Now PostgreSQL picks the page (filters and the
order of service_view.describe_services), and only the page's services and what they relate to are loaded.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from vsmesh.hubs.ops import queries
from vsmesh.hubs.ops.service_health import NO_NESTED_LOOPS, Page, service_places


def _page_query(
    page: Page, name: str | None, environment: str | None, include_retired: bool, entities: list[str] | None = None
) -> sa.Select:
    places = service_places()
    wanted = []
    if entities is not None:
        wanted.append(places.c.entity.in_(entities))
    if not include_retired:
        wanted.append(places.c.retired_at.is_(None))
    if environment:
        wanted.append(places.c.environment == environment)
    if name:
        wanted.append(places.c.name == name)
    # describe_services' order, in code points: environment ("" when none), name, then entity.
    order = (
        sa.func.coalesce(places.c.environment, "").collate("C"),
        places.c.name.collate("C"),
        places.c.entity.collate("C"),
    )
    total = sa.func.count().over().label("total")
    return (
        sa.select(places.c.entity, places.c.name, total)
        .where(*wanted)
        .order_by(*order)
        .limit(page.limit)
        .offset(page.offset)
    )


async def service_page(
    conn: AsyncConnection,
    page: Page,
    *,
    name: str | None = None,
    environment: str | None = None,
    include_retired: bool = False,
    entities: list[str] | None = None,
) -> tuple[int, list[str], queries.Snapshot]:
    """How many services match, the page's entities in order, and a snapshot holding what describing them reads."""
    await conn.execute(sa.select(NO_NESTED_LOOPS))
    found = (await conn.execute(_page_query(page, name, environment, include_retired, entities))).all()
    entities = [row.entity for row in found]
    if found:
        total = found[0].total
    else:  # past the last page (or nothing matches): the first page's count
        first = (await conn.execute(_page_query(Page(limit=1), name, environment, include_retired, entities))).first()
        total = first.total if first else 0
    return total, entities, await queries.load_around(conn, entities, sorted({row.name for row in found}))
