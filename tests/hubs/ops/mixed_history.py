"""A mixed ops-hub history over N services, folded straight into a schema of its own (no NATS needed).

Every case the health of a service depends on: registered, discovered and evidence-only services and data
stores; hosts giving the environment; endpoints linked by name or by a list of names, some retired; evidence
fresh, amber-stale and red-stale; retired services; a removed attribute; costs; incidents; a wave with gates.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Iterator
from typing import Any

import msgspec
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from vsmesh.bus.publisher import Publisher
from vsmesh.events.envelope import Event
from vsmesh.hubs.ops.projector import projection
from vsmesh.projectors.engine.batches import ensure_schema, in_schema
from vsmesh.projectors.engine.changes import Changes
from vsmesh.projectors.engine.checkpoint import save_position
from vsmesh.projectors.engine.projection import Applied
from vsmesh.settings import Settings

NOW = dt.datetime(2026, 11, 2, 12, 0, tzinfo=dt.UTC)
HOSTS = ("h0", "h1", "h2", "h3", "h4")


def _ago(minutes: float) -> dt.datetime:
    return NOW - dt.timedelta(minutes=minutes)


def history(n: int) -> Iterator[tuple[str, str | None, dict[str, Any], dt.datetime]]:
    """(type, subject, data, time) in log order."""
    for h, host in enumerate(HOSTS[:-1]):  # h4 has no host row: its services have no environment from it
        data = {"kind": "host", "name": host, "environment": f"env{h}"}
        yield "ops-inventory-registered", f"host/{host}", data, _ago(9000)
    for i in range(n):
        name = f"svc-{i:05d}"
        subject = f"service/{name}"
        kind = "datastore" if i % 7 == 0 else "service"
        if kind == "datastore":
            subject = f"datastore/{name}"
        if i % 10 == 8:
            pass  # evidence only: never catalogued
        elif i % 11 == 0:
            data = {"name": name, "method": "k8s-api", "host": HOSTS[i % 5], "namespace": "ns"}
            yield "ops-service-discovered", subject if kind == "service" else f"service/{name}", data, _ago(8000)
        else:
            attrs = {"host": HOSTS[i % 5], "purpose": "bench"} if i % 3 == 0 else {}
            env = None if i % 3 == 0 else ("prod", "staging")[i % 2]
            data = {"kind": kind, "name": name, "environment": env, "owner": f"team-{i % 6}", "attributes": attrs}
            yield "ops-inventory-registered", subject, data, _ago(8000)
        if i % 5 != 4:  # some services have no evidence at all (unknown health)
            status = ("green", "green", "amber", "red", "green", "green", "amber")[i % 7]
            yield "ops-health-checked", subject, {"status": status}, _ago((i % 50) * 37.3)
        if i % 4 == 0:
            ep = f"endpoint/ep-{i}"
            linked: Any = [name, f"svc-{(i + 1) % n:05d}", 7] if i % 8 == 0 else name
            attrs = {"service": linked, "url": f"https://{name}"}
            endpoint = {"kind": "endpoint", "name": f"ep-{i}", "attributes": attrs}
            yield "ops-inventory-registered", ep, endpoint, _ago(7000)
            probed = {"endpoint": f"https://{name}", "expected_status": 200, "observed_status": 200 if i % 12 else 503}
            yield "ops-endpoint-verified", ep, probed, _ago((i % 30) * 61.7)
            if i % 24 == 8:
                yield "ops-inventory-retired", ep, {"reason": "moved"}, _ago(100)
        if i % 13 == 5:
            yield "ops-inventory-retired", subject, {"reason": "gone"}, _ago(50)
        if i % 17 == 3:
            yield "ops-inventory-updated", subject, {"removed_attributes": ["host"], "owner": "team-x"}, _ago(40)
        if i % 19 == 0:
            cost = {"amount": {"amount": "1.50", "currency": "EUR"}}
            yield "fin-cost-recorded", f"service/cost-only-{i}", cost, _ago(30)
    yield "ops-incident-opened", "service/svc-00001", {"title": "down", "affected": ["service/svc-00001"]}, _ago(20)
    for gate, status in (("g1", "green"), ("g2", "red")):
        data = {"gate": gate, "status": status, "migration_wave": "w1"}
        yield "ops-readiness-gate-updated", f"readiness-gate/{gate}", data, _ago(10)


def events(n: int) -> list[Event]:
    return build(history(n))


def build(steps: Iterable[tuple[str, str | None, dict[str, Any], dt.datetime]]) -> list[Event]:
    """Typed ops-hub events from (type, subject, data, time)."""
    publisher = Publisher(None, Settings(), source="vsmesh/tests")
    built = []
    for event_type, subject, data, at in steps:
        hub = "ops-hub"
        event = publisher.build(event_type, hub=hub, subject=subject, data=data)
        built.append(msgspec.structs.replace(event, time=at))
    return built


async def fold_into(engine: AsyncEngine, schema: str, built: list[Event], batch: int = 5000, after: int = 0) -> None:
    """Fold the events with ops-hub's own handlers and write them with their position, as the projector would,
    into `schema` (stream sequences after `after`)."""
    ops = projection()
    await ensure_schema(engine, ops, schema)
    for start in range(0, len(built), batch):
        changes = Changes()
        chunk = built[start : start + batch]
        for seq, event in enumerate(chunk, start=after + start + 1):
            # By event class (main's typed dispatch) or by type string (before it): the same handler.
            handler = ops.handlers.get(type(event)) or ops.handlers.get(event.type)  # type: ignore[call-overload]
            assert handler is not None, event.type
            handler(event, Applied("OPERATIONAL", seq), changes)
        if ops.before_write:
            ops.before_write(changes)
        async with engine.begin() as conn:
            conn = await in_schema(conn, schema)
            await changes.flush(conn)
            for stmt in ops.after_batch():
                await conn.execute(stmt)
            await save_position(conn, ops.positions, "OPERATIONAL", after + start + len(chunk))


async def drop(engine: AsyncEngine, schema: str) -> None:
    async with engine.begin() as conn:
        await conn.execute(sa.text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
