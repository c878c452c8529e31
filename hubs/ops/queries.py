"""Loading ops-hub's read model into memory for one answer (the inventory is hundreds of rows, not millions)."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.ext.asyncio import AsyncConnection

from vsmesh.hubs.ops.tables import (
    change_records,
    debts,
    evidence,
    incident_timeline,
    incidents,
    inventory,
    inventory_attributes,
    metadata,
    readiness_gates,
    recent_events,
    service_costs,
)

Row = dict[str, Any]


@dataclass
class Snapshot:
    """The inventory with its attributes, and every entity's latest evidence."""

    items: dict[str, Row] = field(default_factory=dict)  # entity -> inventory row with `attributes`
    evidence: dict[str, list[Row]] = field(default_factory=lambda: defaultdict(list))  # entity -> rows
    costs: dict[str, dict[str, Any]] = field(default_factory=dict)  # entity -> {currency: total} attributed by fin
    # Indexes built on first use: a summary asks `related` once per service, and scanning every item each
    # time made ops-hub's summary quadratic (10,000 services: seconds with the event loop held, so every
    # contract of the process timed out; bench/contract_under_load.py).
    _by_kind: dict[str, list[Row]] | None = field(default=None, repr=False)
    _by_relation: dict[tuple[str, str], dict[Any, list[Row]]] = field(default_factory=dict, repr=False)

    def of_kind(self, *kinds: str) -> list[Row]:
        if self._by_kind is None:
            self._by_kind = defaultdict(list)
            for row in self.items.values():
                self._by_kind[row["kind"]].append(row)
        if len(kinds) == 1:
            return list(self._by_kind.get(kinds[0], ()))
        return [row for row in self.items.values() if row["kind"] in kinds]  # the items' own order

    def related(self, kind: str, relation: str, name: str) -> list[Row]:
        """Items of `kind` whose `relation` attribute names `name` (e.g. endpoints whose service is gitea)."""
        index = self._by_relation.get((kind, relation))
        if index is None:
            index = self._by_relation[(kind, relation)] = defaultdict(list)
            for row in self.of_kind(kind):
                value = row["attributes"].get(relation)
                names = value if isinstance(value, list) else [value]
                for named in dict.fromkeys(n for n in names if isinstance(n, str)):  # each once, in order
                    index[named].append(row)
        return list(index.get(name, ()))


async def load_snapshot(conn: AsyncConnection) -> Snapshot:
    """Inventory rows, their live attributes and all evidence, ordered so answers are stable."""
    snap = await _load_items(conn, sa.true())
    ordered = sa.select(evidence).order_by(evidence.c.entity, evidence.c.kind)
    for row in (await conn.execute(ordered)).mappings():
        snap.evidence[row["entity"]].append(dict(row))
    c = service_costs.c
    totals = sa.select(c.entity, c.currency, sa.func.sum(c.amount)).group_by(c.entity, c.currency)
    for entity, currency, total in (await conn.execute(totals.order_by(c.entity, c.currency))).all():
        snap.costs.setdefault(entity, {})[currency] = total
    return snap


async def load_waves(conn: AsyncConnection) -> Snapshot:
    """Only the migration waves and readiness gates with their attributes: all a wave's readiness reads
    (readiness_view.describe_wave), without the thousands of services and their evidence."""
    i = inventory.c
    return await _load_items(conn, sa.or_(i.kind.in_(WAVE_KINDS), i.entity.startswith("readiness-gate/")))


WAVE_KINDS = ("migration-wave", "readiness-gate")


async def _load_items(conn: AsyncConnection, where: sa.ColumnElement[bool]) -> Snapshot:
    """The inventory rows matching `where`, with their live attributes, by entity."""
    snap = Snapshot()
    for row in (await conn.execute(sa.select(inventory).where(where).order_by(inventory.c.entity))).mappings():
        snap.items[row["entity"]] = {**row, "attributes": {}}
    a = inventory_attributes.c
    attrs = sa.select(inventory_attributes).join(inventory, inventory.c.entity == a.entity).where(where)
    for row in (await conn.execute(attrs.where(sa.not_(a.removed)).order_by(a.entity, a.key))).all():
        snap.items[row.entity]["attributes"][row.key] = row.value
    return snap


async def load_around(conn: AsyncConnection, entities: list[str], names: list[str]) -> Snapshot:
    """Only these services (`names`: theirs) and what service_view.describe_service reads of them: their hosts,
    the items naming them in a `service` attribute (endpoints, access paths, backup sets, runbooks), the
    evidence of the services and of those items, and the services' costs."""
    if not entities:
        return Snapshot()
    a = inventory_attributes.c
    text = a.value.op("#>>", return_type=sa.Text)(sa.literal_column("'{}'::text[]"))
    kind = sa.func.jsonb_typeof(a.value)
    names_array = sa.literal(names, postgresql.ARRAY(sa.Text))
    names_it = sa.or_(
        sa.and_(kind == "string", text.in_(names)), sa.and_(kind == "array", a.value.op("?|")(names_array))
    )
    naming = sa.select(a.entity).where(a.key == "service", sa.not_(a.removed), names_it)
    hosts = sa.select(sa.literal("host/", sa.Text) + text).where(
        a.key == "host", sa.not_(a.removed), a.entity.in_(entities)
    )
    i = inventory.c.entity
    snap = await _load_items(conn, sa.or_(i.in_(entities), i.in_(naming), i.in_(hosts)))
    # Backup sets too: a service shows its newest backup's age (service_view.certificate_and_backup).
    proven = sorted({*entities, *(e for e, row in snap.items.items() if row["kind"] in ("endpoint", "backup-set"))})
    ordered = sa.select(evidence).where(evidence.c.entity.in_(proven)).order_by(evidence.c.entity, evidence.c.kind)
    for row in (await conn.execute(ordered)).mappings():
        snap.evidence[row["entity"]].append(dict(row))
    c = service_costs.c
    totals = sa.select(c.entity, c.currency, sa.func.sum(c.amount)).where(c.entity.in_(entities))
    totals = totals.group_by(c.entity, c.currency).order_by(c.entity, c.currency)
    for entity, currency, total in (await conn.execute(totals)).all():
        snap.costs.setdefault(entity, {})[currency] = total
    return snap


async def open_incident_count(conn: AsyncConnection) -> int:
    """Incidents not resolved (as incident_rows(open_only=True) lists them)."""
    query = sa.select(sa.func.count()).select_from(incidents).where(incidents.c.status != "resolved")
    return (await conn.execute(query)).scalar_one()


async def evidence_of(conn: AsyncConnection, entity: str) -> list[Row]:
    """The entity's latest evidence of each kind, by kind (Snapshot.evidence of one entity)."""
    query = sa.select(evidence).where(evidence.c.entity == entity).order_by(evidence.c.kind)
    return [dict(r) for r in (await conn.execute(query)).mappings()]


async def inventory_item(conn: AsyncConnection, entity: str) -> Row | None:
    """One inventory entity with its live attributes and its latest drift comparison (`drift`, None when
    none was ever reported; `drift.open` while desired and actual differ); None when it is not known."""
    item = (await _load_items(conn, inventory.c.entity == entity)).items.get(entity)
    if item is None:
        return None
    query = sa.select(debts).where(debts.c.entity == entity, debts.c.category == "drift")
    drift = (await conn.execute(query)).mappings().first()
    item["drift"] = {**drift, "open": drift["desired"] != drift["actual"]} if drift else None
    return item


async def inventory_index(conn: AsyncConnection, kinds: list[str] | None) -> list[Row]:
    """Every inventory entity (of these kinds) with its live attributes: what a reconcile compares with."""
    where = inventory.c.kind.in_(kinds) if kinds else sa.true()
    return list((await _load_items(conn, where)).items.values())


async def evidence_by_id(conn: AsyncConnection, ids: list[str]) -> dict[str, Row]:
    """Evidence rows still current for these event ids (a superseded observation is not kept)."""
    if not ids:
        return {}
    rows = (await conn.execute(sa.select(evidence).where(evidence.c.event_id.in_(ids)))).mappings()
    return {r["event_id"]: dict(r) for r in rows}


async def gate_rows(conn: AsyncConnection) -> list[Row]:
    rows = await conn.execute(sa.select(readiness_gates).order_by(readiness_gates.c.gate))
    return [dict(r) for r in rows.mappings()]


async def incident_rows(conn: AsyncConnection, *, open_only: bool, incident_id: str | None = None) -> list[Row]:
    """Incidents (newest first) with their timelines, oldest entry first."""
    query = sa.select(incidents).order_by(incidents.c.opened_at.desc().nulls_last(), incidents.c.incident_id)
    if open_only:
        query = query.where(incidents.c.status != "resolved")
    if incident_id:
        query = query.where(incidents.c.incident_id == incident_id)
    found = [dict(r) for r in (await conn.execute(query)).mappings()]
    if not found:
        return []
    steps = sa.select(incident_timeline).where(incident_timeline.c.incident_id.in_([i["incident_id"] for i in found]))
    timeline: dict[str, list[Row]] = defaultdict(list)
    order = (incident_timeline.c.time, incident_timeline.c.stream, incident_timeline.c.seq)
    for step in (await conn.execute(steps.order_by(*order))).mappings():
        timeline[step["incident_id"]].append(
            {k: step[k] for k in ("time", "type", "status", "severity", "note", "actor", "event_id")}
        )
    return [{**i, "timeline": timeline[i["incident_id"]]} for i in found]


async def recent_changes(conn: AsyncConnection, limit: int) -> list[Row]:
    query = sa.select(change_records).order_by(change_records.c.time.desc(), change_records.c.seq.desc()).limit(limit)
    return [dict(r) for r in (await conn.execute(query)).mappings()]


async def latest_events(conn: AsyncConnection, limit: int) -> list[Row]:
    cols = (recent_events.c.time, recent_events.c.type, recent_events.c.entity, recent_events.c.actor)
    query = (
        sa.select(*cols, recent_events.c.summary)
        .order_by(recent_events.c.time.desc(), recent_events.c.seq.desc())
        .limit(limit)
    )
    return [dict(r) for r in (await conn.execute(query)).mappings()]


async def open_alert_count(conn: AsyncConnection) -> int:
    """Open alerts from the generic core's `alerts` table; 0 while the core has none."""
    alerts = metadata.tables.get("alerts")
    if alerts is None:
        return 0
    query = sa.select(sa.func.count()).select_from(alerts)
    # The core's column names are its own; count what is not closed by whichever marker it keeps.
    if "status" in alerts.c:
        query = query.where(alerts.c.status.not_in(("resolved", "closed")))
    elif "resolved_at" in alerts.c:
        query = query.where(alerts.c.resolved_at.is_(None))
    return (await conn.execute(query)).scalar_one()


async def sightings(conn: AsyncConnection, entities: list[str]) -> dict[str, Row]:
    """Of these entities, those the inventory holds: whether declared (registered), how discovered, last seen."""
    i = inventory.c
    query = sa.select(i.entity, i.registered_at, i.discovered_via, i.last_seen).where(i.entity.in_(entities))
    rows = (await conn.execute(query)).all()
    return {r.entity: {"declared": r.registered_at is not None, "discovered_via": r.discovered_via,
                       "last_seen": r.last_seen} for r in rows}  # fmt: skip
