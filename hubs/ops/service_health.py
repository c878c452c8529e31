"""Every service's health as one SQL query, for the summary: the same answer as service_view.describe_service,
without loading the inventory and its evidence into Python.

At 10,000 services the Python path (load_snapshot + describe_services) took 1.5 s per summary, the event loop
held for all of it, most of it turning rows into dicts and judging health per service (docs/performance.md
§Contracts). The query answers in tens of milliseconds and only the page of services asked for crosses the wire.
Staleness still depends on the reader's clock: `now` and the thresholds are parameters of the query, never
stored (health.py).
"""

from __future__ import annotations

import datetime as dt
import functools
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import aggregate_order_by
from sqlalchemy.ext.asyncio import AsyncConnection

from vsmesh.hubs.ops.health import Staleness
from vsmesh.hubs.ops.tables import evidence, inventory, inventory_attributes, metadata, service_costs
from vsmesh.projectors.engine.checkpoint import positions_table
from vsmesh.projectors.engine.driver import schema_of

SERVICE_KINDS = ("service", "datastore")
HEALTH_KINDS = ("health", "endpoint")  # what proves a service healthy now; backups prove recoverability
_RANKED = ("green", "amber", "red")  # health.RANK; evidence of these kinds is only ever one of the three
WHOLE = sa.literal_column("'{}'::text[]")  # `jsonb #>> '{}'`: a JSON string's text


# Bound at execution (service_health): the reader's clock and the staleness thresholds. The thresholds are
# seconds made into intervals without a day part: a day added to a time is 23 or 25 hours across a daylight
# saving change in the server's time zone, the Python path's minutes never are.
_NOW = sa.bindparam("now", type_=sa.TIMESTAMP(timezone=True))


def _seconds(name: str) -> sa.ColumnElement[dt.timedelta]:
    return sa.func.make_interval(0, 0, 0, 0, 0, 0, sa.bindparam(name, type_=sa.Float), type_=sa.Interval)


_AMBER_AFTER = _seconds("amber_seconds")
_RED_AFTER = _seconds("red_seconds")
NO_NESTED_LOOPS = sa.func.set_config("enable_nestloop", "off", True)


@dataclass(frozen=True)
class Page:
    """Services by name, `limit` of them after the first `offset`."""

    limit: int
    offset: int = 0


def _name_of(entity: sa.ColumnElement[str]) -> sa.ColumnElement[str]:
    # fold_inventory.name_of: the part after the first "/", or the whole entity.
    slash = sa.func.strpos(entity, "/")
    return sa.case((slash > 0, sa.func.substr(entity, slash + 1)), else_=entity)


def _service_entities() -> sa.Subquery:
    """Catalogued or discovered services and data stores, plus services only seen in evidence or costs."""
    seen = [
        sa.select(t.c.entity.label("entity")).where(t.c.entity.startswith("service/"))
        for t in (evidence, service_costs)
    ]
    known = sa.select(inventory.c.entity.label("entity")).where(inventory.c.kind.in_(SERVICE_KINDS))
    return sa.union(known, *seen).subquery("service_entities")


def _attribute(key: str, name: str) -> sa.Alias:
    a = inventory_attributes.alias(name)
    return sa.select(a.c.entity, a.c.value).where(a.c.key == key, sa.not_(a.c.removed)).subquery(name)


def _endpoint_links() -> sa.Subquery:
    """(endpoint entity, service name) for live endpoints whose `service` attribute names the service or lists it."""
    link = _attribute("service", "ep_service")
    ep = inventory.alias("ep")
    element = sa.func.jsonb_array_elements(
        sa.case((sa.func.jsonb_typeof(link.c.value) == "array", link.c.value), else_=sa.func.jsonb_build_array())
    ).table_valued("value", name="element")
    listed = (
        sa.select(link.c.entity, element.c.value.op("#>>", return_type=sa.Text)(WHOLE).label("service"))
        .select_from(link.join(element, sa.true()))
        .where(sa.func.jsonb_typeof(element.c.value) == "string")
    )
    named = sa.select(link.c.entity, link.c.value.op("#>>", return_type=sa.Text)(WHOLE).label("service")).where(
        sa.func.jsonb_typeof(link.c.value) == "string"
    )
    links = sa.union(named, listed).subquery("links")
    live = ep.c.kind == "endpoint", ep.c.retired_at.is_(None)
    return (
        sa.select(links.c.entity.label("endpoint"), links.c.service)
        .select_from(links.join(ep, ep.c.entity == links.c.entity))
        .where(*live)
        .subquery("endpoint_links")
    )


def _evidence_facts() -> sa.CTE:
    """Per entity, over its health and endpoint evidence: the worst observed rank, the oldest and newest time,
    and whether any has no time. Enough to judge staleness at any `now`: an observation's effective status is
    the worse of what it observed and its age's bump (health.Staleness.effective), so a service's is the worse
    of its worst observation and the bump of its oldest one."""
    observed = sa.case((evidence.c.status == "red", 2), (evidence.c.status == "green", 0), else_=1)
    return (
        sa.select(
            evidence.c.entity,
            sa.func.max(observed).label("worst"),
            sa.func.min(evidence.c.at).label("oldest"),
            sa.func.max(evidence.c.at).label("newest"),
            sa.func.bool_or(evidence.c.at.is_(None)).label("untimed"),
        )
        .where(evidence.c.kind.in_(HEALTH_KINDS))
        .group_by(evidence.c.entity)
        .cte("facts")
    )


def _endpoint_facts(facts: sa.CTE) -> sa.Subquery:
    """The same facts over every live endpoint naming a service, by service name."""
    links = _endpoint_links()
    return (
        sa.select(
            links.c.service,
            sa.func.max(facts.c.worst).label("worst"),
            sa.func.min(facts.c.oldest).label("oldest"),
            sa.func.max(facts.c.newest).label("newest"),
            sa.func.bool_or(facts.c.untimed).label("untimed"),
        )
        .select_from(links.join(facts, facts.c.entity == links.c.endpoint))
        .group_by(links.c.service)
        .subquery("endpoint_facts")
    )


def _rank(own: sa.CTE, endpoints: sa.Subquery) -> sa.ColumnElement[int]:
    """The service's effective rank at `now` (0 green, 1 amber, 2 red), NULL without evidence.

    PostgreSQL's greatest/least skip NULLs, as the Python path skips what a service has no evidence of."""
    oldest = sa.func.least(own.c.oldest, endpoints.c.oldest)
    bump = sa.case(
        (oldest + _RED_AFTER < _NOW, 2),
        (oldest + _AMBER_AFTER < _NOW, 1),
        (sa.or_(own.c.untimed, endpoints.c.untimed), 1),  # no time: not proven fresh
        else_=sa.null(),
    )
    return sa.func.greatest(own.c.worst, endpoints.c.worst, bump)


@functools.cache
def service_places() -> sa.Subquery:
    """Every service entity with its name, environment (its own, else its host's), host, owner and retirement,
    as service_view.describe_service answers them. Built once (immutable, reused by every statement): building
    it took ~15 ms of Python per get_services (profiled on one service, the now view's live update)."""
    services = _service_entities()
    item = inventory.alias("item")
    host_row = inventory.alias("host_row")
    host = _attribute("host", "host_attr")
    host_text = host.c.value.op("#>>", return_type=sa.Text)(WHOLE)
    # Python's `f"host/{host}"` for a truthy host; a JSON string or number reads the same as text.
    is_host = sa.and_(
        sa.func.jsonb_typeof(host.c.value).in_(("string", "number")),
        host_text.not_in(("", "0")),
        host_row.c.entity == sa.literal("host/", sa.Text) + host_text,
    )
    joined = (
        services.outerjoin(item, item.c.entity == services.c.entity)
        .outerjoin(host, host.c.entity == services.c.entity)
        .outerjoin(host_row, is_host)
    )
    return (
        sa.select(
            services.c.entity,
            sa.func.coalesce(sa.func.nullif(item.c.name, ""), _name_of(services.c.entity)).label("name"),
            sa.func.coalesce(sa.func.nullif(item.c.environment, ""), host_row.c.environment).label("environment"),
            host.c.value.label("host"),
            item.c.owner,
            item.c.retired_at,
        )
        .select_from(joined)
        .subquery("places")
    )


def health_query() -> sa.CTE:
    """One row per live (not retired) service: name, entity, status (None: no evidence), environment, host,
    owner, checked_at, as service_view.describe_service answers them."""
    places = service_places()
    own = _evidence_facts()
    endpoints = _endpoint_facts(own)
    rank = _rank(own, endpoints)
    status = sa.case(*((rank == i, s) for i, s in enumerate(_RANKED)), else_=sa.null())
    joined = places.outerjoin(own, own.c.entity == places.c.entity).outerjoin(
        endpoints, endpoints.c.service == places.c.name
    )
    return (
        sa.select(
            places.c.name,
            places.c.entity,
            status.label("status"),
            places.c.environment,
            places.c.host,
            places.c.owner,
            sa.func.greatest(own.c.newest, endpoints.c.newest).label("checked_at"),
            sa.func.least(own.c.oldest, endpoints.c.oldest).label("oldest"),
        )
        .select_from(joined)
        .where(places.c.retired_at.is_(None))
        .cte("health")
    )


def _by_name(health: sa.CTE) -> tuple[sa.ColumnElement[Any], ...]:
    # Python's order (code points), not the database's collation; ties as describe_services left them.
    return (
        health.c.name.collate("C"),
        sa.func.coalesce(health.c.environment, "").collate("C"),
        health.c.entity.collate("C"),
    )


def _valid_until(health: sa.CTE) -> sa.ColumnElement[dt.datetime]:
    """The last moment the answer holds: until the first evidence, judged at `now`, ages past a threshold."""
    crossings = [
        sa.case((health.c.oldest + after >= _NOW, health.c.oldest + after), else_=sa.null())
        for after in (_AMBER_AFTER, _RED_AFTER)
    ]
    return sa.func.min(sa.func.least(*crossings))


def _thresholds(staleness: Staleness) -> tuple[dt.timedelta, dt.timedelta]:
    return (
        dt.timedelta(minutes=staleness.amber_minutes),
        dt.timedelta(minutes=max(staleness.red_minutes, staleness.amber_minutes)),
    )


async def read_version(conn: AsyncConnection) -> str:
    """What the read model is at: the schema's identity (a rebuild swaps in another), this server's start and
    the hub's positions (every batch moves them in the transaction that changes its rows), each with the
    transaction that wrote it last (a revert re-folds entities without moving positions, and rewrites them).

    Also turns nested loops off for the caller's transaction: freshly written tables (a rebuild's swapped-in
    schema, before autovacuum's ANALYZE) have no statistics, the planner then guesses one row per join side
    and nests loops (tens of seconds at 10,000 services where the hash joins this module's query is written for
    take a tenth of one; docs/performance.md §Contracts)."""
    positions = positions_table(metadata).c
    at = sa.func.string_agg(
        positions.stream + ":" + sa.cast(positions.position, sa.Text) + ":" + sa.cast(_XMIN, sa.Text),
        aggregate_order_by(sa.literal_column("','"), positions.stream),
    )
    named = _NAMESPACES.c.nspname == (schema_of(conn) or "public")
    schema = sa.select(sa.cast(_NAMESPACES.c.oid, sa.Text)).where(named).scalar_subquery()
    started = sa.cast(sa.func.pg_postmaster_start_time(), sa.Text)
    version = sa.func.concat_ws("/", schema, started, sa.select(at).scalar_subquery())
    return (await conn.execute(sa.select(version, NO_NESTED_LOOPS))).scalar_one()


_XMIN = sa.literal_column("xmin")  # the row version's writing transaction (PostgreSQL system column)
_NAMESPACES = sa.table("pg_namespace", sa.column("oid"), sa.column("nspname"), schema="pg_catalog")


@dataclass(frozen=True)
class Health:
    """Counts of live services by health (`unknown`: no evidence), one page of them by name, and the last
    moment this holds for while no event is applied (None: no evidence left to age)."""

    counts: dict[str, int]
    rows: list[dict[str, Any]]
    until: dt.datetime | None


async def service_health(conn: AsyncConnection, staleness: Staleness, now: dt.datetime, page: Page) -> Health:
    """Every live service judged at `now`, in one statement: the page's rows, one row per health with its
    count, and the time the answer holds until."""
    amber, red = (t.total_seconds() for t in _thresholds(staleness))
    values = {"now": now, "amber_seconds": amber, "red_seconds": red, **vars(page)}
    found = (await conn.execute(_statement(), values)).all()
    counts = {r[1]: r[-1] for r in sorted(r for r in found if r[0] == "count")}
    page_rows = sorted((r for r in found if r[0] == "row"), key=lambda r: r[-1])  # a union keeps no order
    [holds_until] = [r[-2] for r in found if r[0] == "until"]
    return Health(counts, [dict(zip(_COLUMNS, r[1:-1], strict=True)) for r in page_rows], holds_until)


_COLUMNS = ("name", "entity", "status", "environment", "host", "owner", "checked_at")


@functools.cache
def _statement() -> sa.CompoundSelect:
    """Built once, the clock, thresholds and page bound at execution: building it took ~25 ms of Python."""
    health = health_query()
    place = sa.func.row_number().over(order_by=_by_name(health))
    rows = (
        sa.select(sa.literal("row").label("part"), *(health.c[c] for c in _COLUMNS), place.label("n"))
        .order_by(*_by_name(health))
        .limit(sa.bindparam("limit", type_=sa.Integer))
        .offset(sa.bindparam("offset", type_=sa.Integer))
    )
    counted = sa.select(
        sa.literal("count"),
        sa.func.coalesce(health.c.status, "unknown"),
        *(sa.null() for _ in _COLUMNS[1:]),
        sa.func.count(),
    ).group_by(health.c.status)
    blank = [sa.null()] * (len(_COLUMNS) - 1)
    until = sa.select(sa.literal("until"), *blank, _valid_until(health), sa.null())
    return sa.union_all(rows.subquery().select(), counted, until)
